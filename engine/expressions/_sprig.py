"""The commonly used part of Sprig, reachable as `sprig.<name>(...)` in Argo expressions.

Sprig puts the subject last (`sprig.trimSuffix("-", s)`) and converts loosely (Go's
`cast.ToInt64`: bad input becomes 0), so these follow Sprig rather than expr's strictness.
One deliberate difference: `sprig.date` also accepts RFC3339 strings such as
`workflow.creationTimestamp` (real Sprig silently formats the current time for strings).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import secrets
import string
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from engine.expressions._gotime import format_layout, go_duration_string, parse_layout, parse_time
from engine.expressions._values import EvalFault, go_sprint, is_list, to_json


def _int64(value: Any) -> int:
    """Go `cast.ToInt64`: numbers truncate, strings parse (0x.. too), anything else is 0."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return 0 if math.isnan(value) or math.isinf(value) else int(value)
    if isinstance(value, str):
        try:
            return int(value.strip(), 0)
        except ValueError:
            return 0
    return 0


def _float64(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return 0.0


def _text(value: Any) -> str:
    return "" if value is None else go_sprint(value)


def _time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, timezone.utc)
    if isinstance(value, str):
        try:
            return parse_time(value)
        except ValueError as err:
            raise EvalFault(str(err)) from None
    raise EvalFault(f"cannot use {go_sprint(value)!r} as a date")


def _empty(value: Any) -> bool:
    if value is None or value is False:
        return True
    if isinstance(value, (int, float)):
        return value == 0
    if isinstance(value, (str, Mapping)) or is_list(value):
        return len(value) == 0
    return False


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    if not is_list(value):
        raise EvalFault(f"expected a list, got {go_sprint(value)!r}")
    return list(value)


def _b64dec(value: Any) -> str:
    try:
        return base64.b64decode(_text(value), validate=False).decode("utf-8", "replace")
    except (binascii.Error, ValueError) as err:
        return f"{err}"  # sprig returns the error text instead of failing


def _dict(*pairs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(0, len(pairs), 2):
        out[_text(pairs[i])] = pairs[i + 1] if i + 1 < len(pairs) else ""
    return out


def _merge(dst: Any, *sources: Any) -> dict[str, Any]:
    out = dict(dst)
    for src in sources:
        for key, value in src.items():
            out.setdefault(key, value)
    return out


def _div(a: Any, b: Any) -> int:
    divisor = _int64(b)
    if divisor == 0:
        raise EvalFault("integer divide by zero")
    quotient = abs(_int64(a)) // abs(divisor)
    return quotient if (_int64(a) >= 0) == (divisor > 0) else -quotient


def _mod(a: Any, b: Any) -> int:
    divisor = _int64(b)
    if divisor == 0:
        raise EvalFault("integer divide by zero")
    rem = abs(_int64(a)) % abs(divisor)
    return rem if _int64(a) >= 0 else -rem


def _round(value: Any, places: Any, round_on: Any = 0.5) -> float:
    scale = 10 ** _int64(places)
    shifted = _float64(value) * scale
    whole = math.floor(shifted)
    return (whole + (1 if shifted - whole >= _float64(round_on) else 0)) / scale


def _rand(alphabet: str) -> Callable[[Any], str]:
    return lambda n: "".join(secrets.choice(alphabet) for _ in range(_int64(n)))


def _substr(start: Any, end: Any, s: Any) -> str:
    text, lo, hi = _text(s), _int64(start), _int64(end)
    if lo < 0:
        return text[:hi]
    if hi < 0 or hi > len(text):
        return text[lo:]
    return text[lo:hi]


def _trunc(n: Any, s: Any) -> str:
    text, count = _text(s), _int64(n)
    return text[:count] if count >= 0 else text[count:]


def _quote(*values: Any, mark: str = '"') -> str:
    parts = [v for v in values if v is not None]
    if mark == '"':
        return " ".join(json.dumps(_text(v), ensure_ascii=False) for v in parts)
    return " ".join(f"'{_text(v)}'" for v in parts)


def _indent(n: Any, s: Any) -> str:
    pad = " " * _int64(n)
    return pad + _text(s).replace("\n", "\n" + pad)


def _regex(fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        try:
            return fn(*args)
        except re.error as err:
            raise EvalFault(f"invalid regular expression: {err}") from None

    return call


SPRIG: dict[str, Callable[..., Any]] = {
    # strings
    "trim": lambda s: _text(s).strip(), "trimAll": lambda cut, s: _text(s).strip(_text(cut)),
    "trimPrefix": lambda p, s: _text(s).removeprefix(_text(p)),
    "trimSuffix": lambda x, s: _text(s).removesuffix(_text(x)),
    "upper": lambda s: _text(s).upper(), "lower": lambda s: _text(s).lower(),
    "title": lambda s: string.capwords(_text(s)), "repeat": lambda n, s: _text(s) * _int64(n),
    "substr": _substr, "trunc": _trunc, "nospace": lambda s: re.sub(r"\s", "", _text(s)),
    "contains": lambda sub, s: _text(sub) in _text(s),
    "hasPrefix": lambda p, s: _text(s).startswith(_text(p)),
    "hasSuffix": lambda x, s: _text(s).endswith(_text(x)),
    "replace": lambda old, new, s: _text(s).replace(_text(old), _text(new)),
    "quote": _quote, "squote": lambda *v: _quote(*v, mark="'"),
    "cat": lambda *v: " ".join(_text(x) for x in v if x is not None),
    "indent": _indent, "nindent": lambda n, s: "\n" + _indent(n, s),
    "splitList": lambda sep, s: _text(s).split(_text(sep)),
    "split": lambda sep, s: {f"_{i}": p for i, p in enumerate(_text(s).split(_text(sep)))},
    "join": lambda sep, items: _text(sep).join(_text(v) for v in _list(items)),
    "toString": _text, "toStrings": lambda items: [_text(v) for v in _list(items)],
    "regexMatch": _regex(lambda rx, s: re.search(_text(rx), _text(s)) is not None),
    "regexFind": _regex(lambda rx, s: (m.group() if (m := re.search(_text(rx), _text(s)))
                                       else "")),
    "regexFindAll": _regex(lambda rx, s, n=-1: [m.group() for m in
                                                re.finditer(_text(rx), _text(s))][
                                                    : None if _int64(n) < 0 else _int64(n)]),
    "regexReplaceAll": _regex(lambda rx, s, repl: re.sub(
        _text(rx), re.sub(r"\$\{?(\w+)\}?", r"\\g<\1>", _text(repl)), _text(s))),
    "regexReplaceAllLiteral": _regex(lambda rx, s, repl: re.sub(
        _text(rx), lambda _m: _text(repl), _text(s))),
    # encodings
    "b64enc": lambda s: base64.b64encode(_text(s).encode()).decode(), "b64dec": _b64dec,
    "sha1sum": lambda s: hashlib.sha1(_text(s).encode()).hexdigest(),
    "sha256sum": lambda s: hashlib.sha256(_text(s).encode()).hexdigest(),
    "toJson": lambda v: to_json(v), "mustToJson": lambda v: to_json(v),
    "toPrettyJson": lambda v: to_json(v, indent="  "),
    "fromJson": lambda s: json.loads(_text(s)) if _text(s) else None,
    # numbers
    "add": lambda *v: sum(_int64(x) for x in v), "add1": lambda v: _int64(v) + 1,
    "sub": lambda a, b: _int64(a) - _int64(b), "mul": lambda *v: math.prod(_int64(x) for x in v),
    "div": _div, "mod": _mod,
    "max": lambda a, *rest: max(_int64(x) for x in (a, *rest)),
    "min": lambda a, *rest: min(_int64(x) for x in (a, *rest)),
    "addf": lambda *v: math.fsum(_float64(x) for x in v),
    "subf": lambda a, *rest: _float64(a) - math.fsum(_float64(x) for x in rest),
    "mulf": lambda *v: math.prod(_float64(x) for x in v),
    "maxf": lambda a, *rest: max(_float64(x) for x in (a, *rest)),
    "minf": lambda a, *rest: min(_float64(x) for x in (a, *rest)),
    "floor": lambda v: float(math.floor(_float64(v))),
    "ceil": lambda v: float(math.ceil(_float64(v))),
    "round": _round, "int": _int64, "int64": _int64, "float64": _float64, "atoi": _int64,
    # lists and dicts
    "list": lambda *v: list(v), "first": lambda v: (_list(v) or [None])[0],
    "last": lambda v: (_list(v) or [None])[-1], "rest": lambda v: _list(v)[1:],
    "initial": lambda v: _list(v)[:-1], "append": lambda v, x: [*_list(v), x],
    "prepend": lambda v, x: [x, *_list(v)], "concat": lambda *v: [x for i in v for x in _list(i)],
    "reverse": lambda v: _list(v)[::-1], "has": lambda x, v: x in _list(v),
    "uniq": lambda v: [x for i, x in enumerate(_list(v)) if x not in _list(v)[:i]],
    "without": lambda v, *drop: [x for x in _list(v) if x not in drop],
    "compact": lambda v: [x for x in _list(v) if not _empty(x)],
    "sortAlpha": lambda v: sorted(_text(x) for x in _list(v)),
    "dict": _dict, "get": lambda d, k: d.get(_text(k), ""), "hasKey": lambda d, k: k in d,
    "keys": lambda *ds: [k for d in ds for k in d], "values": lambda d: list(d.values()),
    "set": lambda d, k, v: {**d, _text(k): v}, "unset": lambda d, k: {
        key: val for key, val in d.items() if key != k},
    "pick": lambda d, *ks: {k: d[k] for k in ks if k in d},
    "omit": lambda d, *ks: {k: v for k, v in d.items() if k not in ks},
    "merge": _merge, "pluck": lambda k, *ds: [d[k] for d in ds if k in d],
    # defaults and logic
    "default": lambda dflt, *given: dflt if not given or _empty(given[0]) else given[0],
    "empty": _empty, "coalesce": lambda *v: next((x for x in v if not _empty(x)), None),
    "ternary": lambda a, b, cond: a if cond else b,
    # time
    "now": lambda: datetime.now(timezone.utc),
    "date": lambda fmt, d: format_layout(_time(d), _text(fmt)),
    "dateInZone": lambda fmt, d, zone: format_layout(_in_zone(_time(d), zone), _text(fmt)),
    "htmlDate": lambda d: format_layout(_time(d), "2006-01-02"),
    "unixEpoch": lambda d: str(int(_time(d).timestamp())),
    "toDate": lambda fmt, s: parse_layout(_text(s), _text(fmt)),
    "duration": lambda secs: go_duration_string(timedelta(seconds=_int64(secs))),
    # random and ids
    "uuidv4": lambda: str(uuid.uuid4()),
    "randAlphaNum": _rand(string.ascii_letters + string.digits),
    "randAlpha": _rand(string.ascii_letters), "randNumeric": _rand(string.digits),
}  # fmt: skip


def _in_zone(value: datetime, zone: Any) -> datetime:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return value.astimezone(ZoneInfo(_text(zone)))
    except (ZoneInfoNotFoundError, ValueError):
        return value.astimezone(timezone.utc)
