"""`valueFrom.jsonPath` outputs: what `kubectl get ... -o jsonpath=TEMPLATE` prints for the object.

A template is text with `{expression}` blocks (`{.metadata.name}`, `name={.metadata.name}`).
Expressions start at the object (`$` is optional) and support `.key`, `['key']`, `[n]` (negative
too), `[a:b]`, `[*]`, `.*`, `..key`, unions and `[?(@.type=="Complete")]` filters (the path
walking is the engine's JSONPath, `engine.expressions._jsonpath`), plus kubectl's escaped dots
(`{.metadata.labels.app\\.kubernetes\\.io/name}`) and quoted text (`{"\\n"}`). `range`/`end`
are not supported. As kubectl prints them: several results of one expression are joined by a
space, strings print raw, numbers and booleans as Go prints them, maps and lists as compact JSON.

`render` returns None when an expression selects nothing, so the caller can fall back to
`valueFrom.default`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from engine.errors import KubepipeError
from engine.expressions import _jsonpath
from engine.expressions._values import EvalFault, go_float, to_json

__all__ = ["JSONPathError", "render"]


class JSONPathError(KubepipeError):
    """A jsonPath template that does not parse, or uses what the local engine does not support."""


_ESCAPED_NAME = re.compile(r"\.((?:[^.\[\]\s\\'\"]|\\.)*\\\.(?:[^.\[\]\s\\'\"]|\\.)*)")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _split(template: str) -> list[tuple[str, str]]:
    """[('text', literal) | ('expr', expression)] for a kubectl JSONPath template."""
    parts: list[tuple[str, str]] = []
    i = 0
    while i < len(template):
        start = template.find("{", i)
        if start < 0:
            parts.append(("text", template[i:]))
            break
        if start > i:
            parts.append(("text", template[i:start]))
        j = _jsonpath.closing_index(template, start, "{", "}")
        if j < 0:
            raise JSONPathError(f"jsonPath {template!r}: unclosed '{{' at offset {start}")
        parts.append(("expr", template[start + 1 : j].strip()))
        i = j + 1
    return parts


def _unescape_text(body: str) -> str:
    try:
        return json.loads(f'"{body}"')
    except ValueError:
        return body


def _as_path(expr: str, template: str) -> str:
    word = expr.split(None, 1)[0] if expr else ""
    if word in ("range", "end"):
        raise JSONPathError(
            f"jsonPath {template!r}: `{word}` is not supported locally; "
            "select the values directly, e.g. {.items[*].metadata.name}"
        )
    if not expr:
        raise JSONPathError(f"jsonPath {template!r}: empty expression '{{}}'")
    path = _ESCAPED_NAME.sub(
        lambda m: "['" + re.sub(r"\\(.)", r"\1", m.group(1)).replace("'", "\\'") + "']", expr
    )
    if path.startswith(("$", "@")):
        return "$" + path[1:]
    if path.startswith((".", "[")):
        return "$" + path
    return "$." + path


def _filter(text: str, item: Any, root: Any) -> bool:
    from engine.errors import ExpressionError
    from engine.expressions import evaluate_expr

    try:
        result = evaluate_expr(_jsonpath.filter_as_expr(text), {"_at": item, "_root": root})
    except (ExpressionError, EvalFault):
        return False
    return result is not None and result is not False


def _print(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return to_json(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value)
    return str(value)


def render(obj: Any, template: str) -> str | None:
    """The text kubectl prints for `-o jsonpath=template`, or None when an expression finds nothing."""
    out: list[str] = []
    for kind, body in _split(template):
        if kind == "text":
            out.append(body)
            continue
        quoted = _QUOTED.fullmatch(body)
        if quoted:
            out.append(_unescape_text(quoted.group(1)))
            continue
        path = _as_path(body, template)
        try:
            selectors = _jsonpath._parse(path)
        except EvalFault as exc:
            raise JSONPathError(f"jsonPath {template!r} does not parse: {exc}") from None
        definite = all(sel[0] in ("key", "index") for sel in selectors)
        try:
            found = _jsonpath.query(obj, path, _filter)
        except EvalFault:
            return None  # a plain path whose key or index is missing
        results = [found] if definite else list(found)
        if not results:
            return None
        out.append(" ".join(_print(v) for v in results))
    return "".join(out)
