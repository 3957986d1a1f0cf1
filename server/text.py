"""Text the database can store: no NUL (PostgreSQL refuses it in a text column or a query
parameter) and no lone surrogate (not Unicode: it cannot even be encoded). JSON can escape both
(`"\\u0000"`, `"\\ud800"`) and a URL can carry a NUL (`%00`); refused where they come in, with
the field named, they never reach a query as a 500."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fastapi import Request

from server.errors import Invalid

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable(text: str) -> str | None:
    """Why `text` cannot be stored, or None when it can."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    char = found.group()
    what = "a NUL character" if char == "\x00" else f"a lone surrogate U+{ord(char):04X}"
    return f"holds {what} at character {found.start()}; send UTF-8 text without NUL"


def texts(value: Any) -> Iterator[str]:
    """Every string in a request value: itself, or a dict's keys and values, a list's items."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from texts(key)
            yield from texts(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from texts(item)


async def storable_params(request: Request) -> None:
    """Every path and query parameter is storable text (an app-wide dependency)."""
    params = [*request.path_params.items(), *request.query_params.multi_items()]
    for name, value in params:
        why = unstorable(value) if isinstance(value, str) else None
        if why is not None:
            raise Invalid(f"{name} {why}", field=name)
