"""A small JSONPath for Argo's `jsonpath(json, path)` expression function.

Supports `$`, `.key`, `['key']`, `[n]` (negative too), `[a:b:step]`, `[*]`, `.*`, unions
`['a','b']` / `[0,2]`, recursive descent `..`, and filters `[?(@.age > 42 && @.name == "x")]`.
As in Argo (evilmonkeyinc/jsonpath), a path of plain keys and indexes returns one value and a
missing key is an error, while wildcards, slices, unions, filters and `..` return a list.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from engine.expressions._values import EvalFault

FilterEval = Callable[[str, Any, Any], bool]
_NAME = re.compile(r"[^.\[\]\s'\"()*?,]+")


class _PathError(EvalFault):
    pass


def closing_index(text: str, start: int, opens: str, closes: str) -> int:
    """Index of the bracket closing the one at `start`, skipping quoted text; -1 if unclosed.

    Shared by JSONPath brackets here and kubectl's `{...}` template blocks, which nest and
    quote the same way.
    """
    depth, i, quote = 0, start, ""
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in opens:
            depth += 1
        elif ch in closes:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _split_bracket(path: str, start: int) -> tuple[str, int]:
    """Return the text inside `[...]` starting at `start` (which is '['), honouring quotes."""
    end = closing_index(path, start, "[(", "])")
    if end < 0:
        raise _PathError(f"unclosed '[' at offset {start} in JSONPath {path!r}")
    return path[start + 1 : end], end + 1


def _split_union(body: str) -> list[str]:
    parts, current, quote = [], [], ""
    for ch in body:
        if quote:
            current.append(ch)
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            current.append(ch)
        elif ch == ",":
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    parts.append("".join(current).strip())
    return parts


def _bracket_selector(body: str, path: str) -> tuple:
    body = body.strip()
    if body.startswith("?"):
        inner = body[1:].strip()
        if inner.startswith("(") and inner.endswith(")"):
            inner = inner[1:-1]
        return ("filter", inner)
    if body == "*":
        return ("wild",)
    parts = _split_union(body)
    if len(parts) > 1:
        return ("union", tuple(_bracket_selector(p, path) for p in parts))
    if body[:1] in ("'", '"') and body[-1:] == body[:1] and len(body) >= 2:
        return ("key", re.sub(r"\\(.)", r"\1", body[1:-1]))
    if ":" in body:
        bounds = [b.strip() for b in body.split(":")]
        if len(bounds) > 3 or not all(re.fullmatch(r"-?\d*", b) for b in bounds):
            raise _PathError(f"invalid slice [{body}] in JSONPath {path!r}")
        nums = [int(b) if b else None for b in bounds] + [None] * (3 - len(bounds))
        return ("slice", nums[0], nums[1], nums[2])
    if re.fullmatch(r"-?\d+", body):
        return ("index", int(body))
    raise _PathError(f"invalid selector [{body}] in JSONPath {path!r}")


def _parse(path: str) -> list[tuple]:
    text = path.strip()
    if not text.startswith(("$", "@")):
        raise _PathError(f"JSONPath {path!r} must start with '$'")
    selectors: list[tuple] = []
    i = 1
    while i < len(text):
        if text.startswith("..", i):
            i += 2
            if text.startswith("[", i):
                body, i = _split_bracket(text, i)
                selectors.append(("descend", _bracket_selector(body, path)))
            elif text.startswith("*", i):
                selectors.append(("descend", ("wild",)))
                i += 1
            else:
                match = _NAME.match(text, i)
                if not match:
                    raise _PathError(f"expected a name after '..' at offset {i} in {path!r}")
                selectors.append(("descend", ("key", match.group())))
                i = match.end()
        elif text[i] == ".":
            i += 1
            if text.startswith("*", i):
                selectors.append(("wild",))
                i += 1
                continue
            match = _NAME.match(text, i)
            if not match:
                raise _PathError(f"expected a name after '.' at offset {i} in {path!r}")
            selectors.append(("key", match.group()))
            i = match.end()
        elif text[i] == "[":
            body, i = _split_bracket(text, i)
            selectors.append(_bracket_selector(body, path))
        else:
            raise _PathError(f"unexpected {text[i]!r} at offset {i} in JSONPath {path!r}")
    return selectors


def _children(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return list(node.values())
    if isinstance(node, list):
        return list(node)
    return []


def _descendants(node: Any) -> Iterator[Any]:
    yield node
    for child in _children(node):
        yield from _descendants(child)


def _apply(sel: tuple, node: Any, root: Any, strict: bool, matches: FilterEval) -> list[Any]:
    kind = sel[0]
    if kind == "key":
        if isinstance(node, dict) and sel[1] in node:
            return [node[sel[1]]]
        if strict:
            raise _PathError(f"key {sel[1]!r} not found")
        return []
    if kind == "index":
        if isinstance(node, list) and -len(node) <= sel[1] < len(node):
            return [node[sel[1]]]
        if strict:
            raise _PathError(f"index [{sel[1]}] out of range")
        return []
    if kind == "wild":
        return _children(node)
    if kind == "slice":
        return node[slice(sel[1], sel[2], sel[3])] if isinstance(node, list) else []
    if kind == "union":
        return [v for s in sel[1] for v in _apply(s, node, root, False, matches)]
    if kind == "filter":
        return [child for child in _children(node) if matches(sel[1], child, root)]
    return [v for d in _descendants(node) for v in _apply(sel[1], d, root, False, matches)]


def query(data: Any, path: str, matches: FilterEval) -> Any:
    """Select from decoded JSON; `matches(filter_text, item, root)` decides `[?(...)]` filters."""
    selectors = _parse(path)
    definite = all(sel[0] in ("key", "index") for sel in selectors)
    nodes = [data]
    for sel in selectors:
        nodes = [v for node in nodes for v in _apply(sel, node, data, definite, matches)]
    return nodes[0] if definite else nodes


def filter_as_expr(text: str) -> str:
    """Rewrite a JSONPath filter as expr-lang: `@` -> `_at`, `$` -> `_root`, `null` -> `nil`."""
    out, i, quote = [], 0, ""
    while i < len(text):
        ch = text[i]
        if quote:
            out.append(ch)
            if ch == "\\" and i + 1 < len(text):
                out.append(text[i + 1])
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            out.append(ch)
        elif ch == "@":
            out.append("_at")
        elif ch == "$":
            out.append("_root")
        elif text.startswith("null", i) and not (
            i and (text[i - 1].isalnum() or text[i - 1] in "_.")
        ):
            out.append("nil")
            i += 3
        else:
            out.append(ch)
        i += 1
    return "".join(out)
