"""Functions available to expressions: expr-lang built-ins plus Argo's additions.

Argo adds `asInt`, `asFloat`, `jsonpath`, `toJson` and the `sprig` map (util/expr/env/env.go).
Conversions are strict like Go's strconv (`asInt("1.5")` is an error, not 1), because a silent
coercion in a retry or branch condition is worse than a clear failure.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import statistics
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from engine.expressions import _jsonpath
from engine.expressions._expr_ops import compare
from engine.expressions._gotime import parse_go_duration, parse_layout, parse_time
from engine.expressions._values import (
    EvalFault,
    equal,
    from_json,
    go_sprint,
    is_list,
    is_number,
    to_json,
    type_name,
)

_INT_TEXT = re.compile(r"[+-]?\d+")
_FLOAT_TEXT = re.compile(
    r"[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|inf|infinity|nan)", re.IGNORECASE
)


def to_int(value: Any) -> int:
    """expr `int()` / Argo `asInt()`: truncates floats, parses decimal strings strictly."""
    if isinstance(value, bool):
        raise EvalFault("cannot convert bool to int")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise EvalFault(f"cannot convert {go_sprint(value)} to int")
        return int(value)
    if isinstance(value, str):
        if _INT_TEXT.fullmatch(value):
            return int(value)
        raise EvalFault(f'cannot convert {value!r} to int (expected digits like "42")')
    raise EvalFault(f"cannot convert {type_name(value)} to int")


def to_float(value: Any) -> float:
    """expr `float()` / Argo `asFloat()`: Go's ParseFloat rules for strings."""
    if isinstance(value, bool):
        raise EvalFault("cannot convert bool to float")
    if is_number(value):
        return float(value)
    if isinstance(value, str):
        if _FLOAT_TEXT.fullmatch(value):
            return float(value)
        raise EvalFault(f"cannot convert {value!r} to float")
    raise EvalFault(f"cannot convert {type_name(value)} to float")


def _need(value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise EvalFault(f"expected {what}, got {type_name(value)}")
    return value


def _list(value: Any) -> list[Any]:
    if not is_list(value):
        raise EvalFault(f"expected an array, got {type_name(value)}")
    return list(value)


def _numbers(args: tuple[Any, ...]) -> list[Any]:
    values = _list(args[0]) if len(args) == 1 and is_list(args[0]) else list(args)
    if not values:
        raise EvalFault("needs at least one number")
    for v in values:
        if not is_number(v):
            raise EvalFault(f"expected numbers, got {type_name(v)}")
    return values


def _length(value: Any) -> int:
    if isinstance(value, (str, Mapping)) or is_list(value):
        return len(value)
    raise EvalFault(f"len() needs a string, array or map, got {type_name(value)}")


def _round(value: Any) -> float:
    number = to_float(_need(value, (int, float), "a number"))
    return float(math.floor(abs(number) + 0.5)) * (1 if number >= 0 else -1)


def _split(text: Any, sep: Any, n: int = -1, after: bool = False) -> list[str]:
    _need(text, str, "a string")
    _need(sep, str, "a string separator")
    if n == 0:
        return []
    if sep == "":
        parts = list(text)
    else:
        pieces = text.split(sep) if n < 0 else text.split(sep, n - 1)
        parts = [p + sep for p in pieces[:-1]] + pieces[-1:] if after else pieces
    return parts


def _trim(text: Any, chars: Any = None) -> str:
    _need(text, str, "a string")
    return text.strip() if chars is None else text.strip(_need(chars, str, "a string"))


def _join(items: Any, sep: str = "") -> str:
    return _need(sep, str, "a string separator").join(go_sprint(v) for v in _list(items))


def _get(container: Any, key: Any) -> Any:
    if isinstance(container, Mapping):
        return container.get(key)
    if is_list(container) and isinstance(key, int) and not isinstance(key, bool):
        return container[key] if -len(container) <= key < len(container) else None
    return None


def _sort(items: Any, order: str = "asc") -> list[Any]:
    values = _list(items)
    if order not in ("asc", "desc"):
        raise EvalFault(f'sort order must be "asc" or "desc", got {order!r}')
    try:
        return sorted(values, reverse=order == "desc")
    except TypeError:
        raise EvalFault("sort() needs values of one comparable type") from None


def _uniq(items: Any) -> list[Any]:
    out: list[Any] = []
    for item in _list(items):
        if not any(equal(item, seen) for seen in out):
            out.append(item)
    return out


def _flatten(items: Any) -> list[Any]:
    out: list[Any] = []
    for item in _list(items):
        out.extend(_flatten(item) if is_list(item) else [item])
    return out


def _date(text: Any, layout: Any = None, zone: Any = None) -> datetime:
    """expr `date(s[, layout[, zone]])`; `zone` names the zone of a layout without an offset."""
    if isinstance(text, datetime):
        return text
    _need(text, str, "a date string")
    try:
        parsed = parse_time(text) if layout is None else parse_layout(text, layout)
        if zone is not None:
            from zoneinfo import ZoneInfo

            parsed = parsed.replace(tzinfo=ZoneInfo(_need(zone, str, "a time zone name")))
    except (ValueError, KeyError) as err:
        raise EvalFault(str(err)) from None
    return parsed


def _duration(text: Any) -> Any:
    try:
        return parse_go_duration(_need(text, str, 'a duration string like "1h30m"'))
    except ValueError as err:
        raise EvalFault(str(err)) from None


def _from_base64(text: Any) -> str:
    try:
        return base64.b64decode(_need(text, str, "a string"), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as err:
        raise EvalFault(f"invalid base64: {err}") from None


def jsonpath(document: Any, path: Any) -> Any:
    """Argo `jsonpath(json, path)`; already-decoded maps/arrays are accepted as a courtesy."""
    data = from_json(document) if isinstance(document, str) else document
    return _jsonpath.query(data, _need(path, str, "a JSONPath string"), _filter_matches)


def _filter_matches(text: str, item: Any, root: Any) -> bool:
    from engine.errors import ExpressionError
    from engine.expressions.expr import evaluate_expr

    try:
        result = evaluate_expr(_jsonpath.filter_as_expr(text), {"_at": item, "_root": root})
    except ExpressionError:
        return False
    return result is not None and result is not False


def _minmax(pick: Callable[..., Any]) -> Callable[..., Any]:
    def choose(*args: Any) -> Any:
        values = _numbers(args)
        best = values[0]
        for v in values[1:]:
            if compare("<", v, best) == (pick is min):
                best = v
        return best

    return choose


BUILTINS: dict[str, Callable[..., Any]] = {
    # conversions
    "int": to_int, "asInt": to_int, "float": to_float, "asFloat": to_float,
    "string": go_sprint, "type": type_name,
    "toJSON": lambda v: to_json(v, indent="  "), "toJson": to_json, "fromJSON": from_json,
    "toBase64": lambda s: base64.b64encode(_need(s, str, "a string").encode()).decode(),
    "fromBase64": _from_base64, "jsonpath": jsonpath,
    # strings
    "len": _length, "trim": _trim,
    "trimPrefix": lambda s, p: _need(s, str, "a string").removeprefix(p),
    "trimSuffix": lambda s, p: _need(s, str, "a string").removesuffix(p),
    "upper": lambda s: _need(s, str, "a string").upper(),
    "lower": lambda s: _need(s, str, "a string").lower(),
    "split": _split, "splitAfter": lambda s, sep, n=-1: _split(s, sep, n, after=True),
    "replace": lambda s, old, new: _need(s, str, "a string").replace(old, new),
    "repeat": lambda s, n: _need(s, str, "a string") * _need(n, int, "a count"),
    "indexOf": lambda s, sub: _need(s, str, "a string").find(sub),
    "lastIndexOf": lambda s, sub: _need(s, str, "a string").rfind(sub),
    "hasPrefix": lambda s, p: _need(s, str, "a string").startswith(p),
    "hasSuffix": lambda s, p: _need(s, str, "a string").endswith(p),
    "join": _join,
    # numbers
    "abs": lambda n: abs(_need(n, (int, float), "a number")),
    "ceil": lambda n: float(math.ceil(_need(n, (int, float), "a number"))),
    "floor": lambda n: float(math.floor(_need(n, (int, float), "a number"))),
    "round": _round, "max": _minmax(max), "min": _minmax(min),
    "sum": lambda a: sum(_numbers((a,))) if _list(a) else 0,
    "count": lambda a: sum(1 for v in _list(a) if v is True),
    "mean": lambda *a: float(statistics.fmean(_numbers(a))),
    "median": lambda *a: float(statistics.median(_numbers(a))),
    # arrays and maps
    "first": lambda a: _list(a)[0] if _list(a) else None,
    "last": lambda a: _list(a)[-1] if _list(a) else None,
    "take": lambda a, n: _list(a)[: _need(n, int, "a count")],
    "reverse": lambda a: _list(a)[::-1], "sort": _sort, "uniq": _uniq, "flatten": _flatten,
    "concat": lambda *arrays: [v for a in arrays for v in _list(a)],
    "keys": lambda m: list(_need(m, Mapping, "a map").keys()),
    "values": lambda m: list(_need(m, Mapping, "a map").values()),
    "toPairs": lambda m: [[k, v] for k, v in _need(m, Mapping, "a map").items()],
    "fromPairs": lambda a: {p[0]: p[1] for p in _list(a)},
    "get": _get,
    # time
    "now": lambda: datetime.now(timezone.utc), "duration": _duration, "date": _date,
}  # fmt: skip
