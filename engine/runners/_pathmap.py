"""The fallback filesystem view: declared container paths mapped to host paths by rewriting strings.

Used when a mount namespace cannot be had (see `local.py`). Each declared path P (an input, an
output, the working directory) lives at `<root>/P` on the host. Occurrences of P in argv and env
values are rewritten to that host path, and so are its parent directories when they appear on
their own (`mkdir -p /tmp/outdir`, `cd /tmp`), because steps routinely name the directory of an
output rather than the output itself.

Matching is by whole path: `/tmp/out.txt` is not rewritten inside `/data/tmp/out.txt` or in
`/tmp/out.txt.bak`. A parent directory is rewritten alone or with a trailing slash, but not as
the prefix of some other, undeclared path (`/tmp` in `/tmp/other.txt` is left alone), because
the host's `/usr` must stay `/usr` even if `/usr/local/out` was declared. Paths under `keep`
(the interpreter's prefix, the engine's source tree) are never rewritten.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from pathlib import Path

__all__ = ["PathMap"]

_NAME_CHAR = r"\w.\-~"  # characters that continue a path component


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root + "/")


def _ancestors(path: str) -> list[str]:
    out = []
    parent = posixpath.dirname(path)
    while parent not in ("/", ""):
        out.append(parent)
        parent = posixpath.dirname(parent)
    return out


class PathMap:
    """Maps declared container paths under `root` and rewrites command lines to match."""

    def __init__(self, root: Path, declared: Iterable[str], keep: Iterable[str] = ()) -> None:
        self.root = root
        self._keep = tuple(k.rstrip("/") for k in keep if k.startswith("/"))
        self._declared = frozenset(declared)
        self._ancestors = (
            frozenset(a for p in self._declared for a in _ancestors(p)) - self._declared
        )
        alternatives = sorted(self._declared | self._ancestors, key=len, reverse=True)
        self._pattern = (
            re.compile(
                rf"(?<![{_NAME_CHAR}/])"  # not the tail of a longer path
                rf"(?:{'|'.join(map(re.escape, alternatives))})"
                rf"(?![{_NAME_CHAR}])"  # not the head of a longer name
            )
            if alternatives
            else None
        )

    def host(self, container_path: str) -> Path:
        """The host path standing in for an absolute container path."""
        return self.root / container_path.lstrip("/")

    def rewrite(self, text: str) -> str:
        """Replace declared paths (and lone parent dirs) in one argv element or env value."""
        if self._pattern is None or "/" not in text:
            return text

        def replace(match: re.Match[str]) -> str:
            found = match.group(0)
            token = re.match(rf"[{_NAME_CHAR}/]*", text[match.start() :])
            if token and any(_within(token.group(0), root) for root in self._keep):
                return found  # the engine's own interpreter or code, even when it sits under /tmp
            after = text[match.end() : match.end() + 2]
            if (
                found in self._ancestors
                and after[:1] == "/"
                and re.match(rf"[{_NAME_CHAR}]", after[1:2])
                and not any(a in self._declared for a in _ancestors(found))
            ):
                return found  # a parent dir used as the prefix of an undeclared path: leave it
            return str(self.host(found))

        return self._pattern.sub(replace, text)
