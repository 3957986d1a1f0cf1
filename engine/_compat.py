"""Small shims so the package runs unchanged on Python 3.10 and later."""

from __future__ import annotations

import sys
from enum import Enum

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:  # pragma: no cover - exercised only on 3.10

    class StrEnum(str, Enum):
        """3.10 stand-in for `enum.StrEnum`: members print as their value, so messages read well."""

        def __str__(self) -> str:
            return str(self.value)


__all__ = ["StrEnum"]
