"""expr-lang operator semantics on Python values (the evaluator adds positions to faults).

Numbers follow Go/expr: `int op int` stays int except `/` and `**`, which give floats; `%`
truncates toward zero like Go. Mixed types are errors rather than silent coercions, because a
workflow that compares "10" with 9 almost always has a bug the author wants to hear about.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from engine.expressions._gotime import as_utc, parse_time
from engine.expressions._values import ORDERINGS, EvalFault, equal, is_list, is_number, type_name


def _mismatch(op: str, left: object, right: object) -> EvalFault:
    return EvalFault(
        f"invalid operation: {type_name(left)} {op} {type_name(right)} (mismatched types"
        f"{'; convert with int(), float() or string() first' if _scalar(left, right) else ''})"
    )


def _scalar(left: object, right: object) -> bool:
    return all(isinstance(v, (int, float, str)) for v in (left, right))


def _time_pair(left: object, right: object) -> tuple[Any, Any]:
    """Let a datetime meet an RFC3339 string, since Argo passes timestamps as strings."""
    if isinstance(left, datetime) and isinstance(right, str):
        return as_utc(left), _read_time(right)
    if isinstance(right, datetime) and isinstance(left, str):
        return _read_time(left), as_utc(right)
    if isinstance(left, datetime) and isinstance(right, datetime):
        return as_utc(left), as_utc(right)
    return left, right


def _read_time(text: str) -> datetime:
    try:
        return parse_time(text)
    except ValueError as err:
        raise EvalFault(str(err)) from None


def compare(op: str, left: object, right: object) -> bool:
    left, right = _time_pair(left, right)
    comparable = (
        (is_number(left) and is_number(right))
        or (isinstance(left, str) and isinstance(right, str))
        or (isinstance(left, datetime) and isinstance(right, datetime))
        or (isinstance(left, timedelta) and isinstance(right, timedelta))
    )
    if not comparable:
        raise _mismatch(op, left, right)
    return bool(ORDERINGS[op](left, right))


def _go_mod(left: int, right: int) -> int:
    if right == 0:
        raise EvalFault("integer divide by zero")
    result = abs(left) % abs(right)
    return -result if left < 0 else result


def arithmetic(op: str, left: Any, right: Any) -> Any:
    if op == "+":
        if isinstance(left, str) and isinstance(right, str):
            return left + right
        if is_list(left) and is_list(right):
            return [*left, *right]
        if isinstance(left, datetime) and isinstance(right, timedelta):
            return left + right
        if isinstance(left, timedelta) and isinstance(right, (timedelta, datetime)):
            return right + left
    if op == "-":
        left, right = _time_pair(left, right)
        if isinstance(left, datetime) and isinstance(right, (datetime, timedelta)):
            return left - right
        if isinstance(left, timedelta) and isinstance(right, timedelta):
            return left - right
    if not (is_number(left) and is_number(right)):
        raise _mismatch(op, left, right)
    both_int = isinstance(left, int) and isinstance(right, int)
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if op == "/":
        if right == 0:
            raise EvalFault("division by zero")
        return left / right
    if op == "%":
        if not both_int:
            raise EvalFault(
                f"invalid operation: {type_name(left)} % {type_name(right)} (% needs two integers)"
            )
        return _go_mod(left, right)
    try:  # ** and ^
        return math.pow(left, right)
    except (OverflowError, ValueError):
        raise EvalFault(f"{left} ** {right} is out of range") from None


def membership(left: Any, right: Any) -> bool:
    if is_list(right):
        return any(equal(left, item) for item in right)
    if isinstance(right, Mapping):
        return left in right if isinstance(left, (str, int)) else False
    if right is None:
        return False
    raise EvalFault(
        f"invalid operation: {type_name(left)} in {type_name(right)} "
        "(the right side must be an array or a map)"
    )


def string_test(op: str, left: Any, right: Any) -> bool:
    if not (isinstance(left, str) and isinstance(right, str)):
        raise EvalFault(
            f"invalid operation: {type_name(left)} {op} {type_name(right)} ({op} needs two strings)"
        )
    if op == "contains":
        return right in left
    if op == "startsWith":
        return left.startswith(right)
    if op == "endsWith":
        return left.endswith(right)
    try:
        return re.search(right, left) is not None
    except re.error as err:
        raise EvalFault(f"invalid regular expression {right!r}: {err}") from None


def integer_range(left: Any, right: Any) -> list[int]:
    if (
        not (isinstance(left, int) and isinstance(right, int))
        or isinstance(left, bool)
        or isinstance(right, bool)
    ):
        raise _mismatch("..", left, right)
    return list(range(left, right + 1))


def binary(op: str, left: Any, right: Any) -> Any:
    """Apply a non-short-circuit binary operator."""
    if op == "==":
        return equal(left, right)
    if op == "!=":
        return not equal(left, right)
    if op in ("<", "<=", ">", ">="):
        return compare(op, left, right)
    if op == "in":
        return membership(left, right)
    if op in ("contains", "startsWith", "endsWith", "matches"):
        return string_test(op, left, right)
    if op == "..":
        return integer_range(left, right)
    return arithmetic("**" if op == "^" else op, left, right)


def negate(value: Any) -> Any:
    if is_number(value) or isinstance(value, timedelta):
        return -value
    raise EvalFault(f"invalid operation: -{type_name(value)} (needs a number)")
