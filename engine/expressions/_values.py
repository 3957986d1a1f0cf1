"""Value helpers shared by the evaluators: Go-compatible printing, JSON and equality.

Argo is written in Go, so what users see (`{{= 2.0 * 3}}` renders `6`, `toJson` sorts keys)
follows Go's `fmt` and `encoding/json`. Keeping those rules in one place keeps every renderer
consistent.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from engine.expressions._gotime import go_duration_string, go_time_string, rfc3339


class EvalFault(Exception):
    """A runtime failure without a source position; the evaluator adds the position."""


def is_number(value: object) -> bool:
    """True for int/float but not bool, which Python would otherwise treat as an int."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_list(value: object) -> bool:
    return isinstance(value, (list, tuple))


def type_name(value: object) -> str:
    """expr-lang's names for types, so messages match what users read in the expr docs."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if is_list(value):
        return "array"
    if isinstance(value, Mapping):
        return "map"
    if isinstance(value, datetime):
        return "time.Time"
    if isinstance(value, timedelta):
        return "time.Duration"
    if callable(value):
        return "func"
    return type(value).__name__


def equal(left: object, right: object) -> bool:
    """expr-lang `==`: numbers compare by value across int/float, other types must match."""
    if is_number(left) and is_number(right):
        return left == right
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if is_list(left) and is_list(right):
        return len(left) == len(right) and all(
            equal(a, b)
            for a, b in zip(left, right)  # type: ignore[arg-type]
        )
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(equal(left[k], right[k]) for k in left)
    if type(left) is not type(right) and not (
        isinstance(left, type(right)) or isinstance(right, type(left))
    ):
        return False
    return bool(left == right)


def _shortest(value: float) -> tuple[str, str, int]:
    """Sign, shortest round-trip digits, and the decimal point's position within those digits."""
    sign, digit_tuple, exponent = Decimal(repr(value)).as_tuple()
    digits = "".join(map(str, digit_tuple)).lstrip("0")
    if not digits:
        return ("-" if sign else ""), "0", 1
    trimmed = digits.rstrip("0")
    exponent = int(exponent) + len(digits) - len(trimmed)
    return ("-" if sign else ""), trimmed, len(trimmed) + exponent


def _format_fixed(sign: str, digits: str, dp: int) -> str:
    if dp <= 0:
        return f"{sign}0.{'0' * -dp}{digits}"
    if dp >= len(digits):
        return sign + digits + "0" * (dp - len(digits))
    return f"{sign}{digits[:dp]}.{digits[dp:]}"


def _format_exp(sign: str, digits: str, dp: int, min_exp_digits: int) -> str:
    exp = dp - 1
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{sign}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):0{min_exp_digits}d}"


def go_float(value: float) -> str:
    """Go `%v` for float64: shortest digits, exponent form outside [1e-4, 1e6) like `1e+06`."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign, digits, dp = _shortest(value)
    if digits == "0":
        return sign + "0"
    exp = dp - 1
    if exp < -4 or exp >= 6:
        return _format_exp(sign, digits, dp, 2)
    return _format_fixed(sign, digits, dp)


def json_float(value: float) -> str:
    """Go `encoding/json` for float64: integral values print without `.0`."""
    if math.isnan(value) or math.isinf(value):
        raise EvalFault(f"cannot encode {go_float(value)} as JSON")
    sign, digits, dp = _shortest(value)
    if digits == "0":
        return sign + "0"
    magnitude = abs(value)
    if magnitude < 1e-6 or magnitude >= 1e21:
        return _format_exp(sign, digits, dp, 1)
    return _format_fixed(sign, digits, dp)


def go_sprint(value: object) -> str:
    """Go `fmt.Sprintf("%v")`, which Argo and expr use to turn values into strings."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, str):
        return value
    if is_list(value):
        return "[" + " ".join(go_sprint(v) for v in value) + "]"  # type: ignore[union-attr]
    if isinstance(value, Mapping):
        items = sorted(value.items(), key=lambda kv: go_sprint(kv[0]))
        return "map[" + " ".join(f"{go_sprint(k)}:{go_sprint(v)}" for k, v in items) + "]"
    if isinstance(value, datetime):
        return go_time_string(value)
    if isinstance(value, timedelta):
        return go_duration_string(value)
    return str(value)


def to_json(value: object, indent: str | None = None) -> str:
    """Go `json.Marshal` (or `MarshalIndent` when `indent` is given): sorted keys, Go floats."""
    return _encode(value, indent, 0)


def _encode(value: object, indent: str | None, level: int) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return json_float(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime):
        return json.dumps(rfc3339(value, nano=True))
    if isinstance(value, timedelta):
        return str((value.days * 86400 + value.seconds) * 10**9 + value.microseconds * 1000)
    if is_list(value):
        parts = [_encode(v, indent, level + 1) for v in value]  # type: ignore[union-attr]
        return _join("[", parts, "]", indent, level)
    if isinstance(value, Mapping):
        keys = sorted(value, key=go_sprint)
        sep = ": " if indent is not None else ":"
        parts = [
            json.dumps(go_sprint(k), ensure_ascii=False)
            + sep
            + _encode(value[k], indent, level + 1)
            for k in keys
        ]
        return _join("{", parts, "}", indent, level)
    raise EvalFault(f"cannot encode a value of type {type_name(value)} as JSON")


def _join(open_: str, parts: Sequence[str], close: str, indent: str | None, level: int) -> str:
    if not parts:
        return open_ + close
    if indent is None:
        return open_ + ",".join(parts) + close
    inner = "\n" + indent * (level + 1)
    return open_ + inner + ("," + inner).join(parts) + "\n" + indent * level + close


def from_json(text: object) -> Any:
    """Decode JSON text; a clear fault instead of a traceback when it is not JSON."""
    if not isinstance(text, str):
        raise EvalFault(f"expected a JSON string, got {type_name(text)}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise EvalFault(f"invalid JSON ({err.msg} at offset {err.pos}): {text[:80]!r}") from None


def render(value: object) -> str:
    """How a `{{= ...}}` result lands in the text: strings verbatim, everything else as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return rfc3339(value, nano=True)
    return to_json(value)


# The four orderings both expression languages share; callers check the operands compare first.
ORDERINGS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
