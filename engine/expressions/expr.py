"""Evaluate the expr-lang subset Argo uses for `{{= ...}}`, `expression:` and `fromExpression`.

Lookups are stricter than expr-lang, where a missing map key quietly yields nil: here an unknown
name raises `UndefinedName` listing what *is* available, because a typo such as
`inputs.parameters.mesage` should fail loudly. Absence is still testable where the author asks
for it: the left side of `??`, an operand compared with `nil`, `?.` chains and `get()` see nil.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from engine.errors import ExpressionError, UnresolvedReference
from engine.expressions import _expr_ops as ops
from engine.expressions._expr_builtins import BUILTINS
from engine.expressions._expr_parser import (
    ArrayLit,
    Binary,
    Call,
    Chain,
    Conditional,
    Ident,
    Literal,
    MapLit,
    Member,
    Node,
    Pointer,
    Predicate,
    Slice,
    Unary,
    parse_expr,
)
from engine.expressions._gotime import as_utc, format_layout, go_duration_string, rfc3339
from engine.expressions._sprig import SPRIG
from engine.expressions._values import EvalFault, is_list, is_number, type_name

__all__ = ["UndefinedName", "evaluate_expr", "expand_env"]

_MAX_LISTED = 25


class UndefinedName(UnresolvedReference):
    """An expression named a variable or field that the environment does not (yet) hold."""

    def __init__(
        self, name: str, where: str, available: list[str], expression: str, position: int | None
    ) -> None:
        self.reference = f"{where}.{name}" if where else name
        self.name = name
        self.available = available
        place = f" in {where}" if where else ""
        more = ", ..." if len(available) > _MAX_LISTED else ""
        shown = ", ".join(available[:_MAX_LISTED]) + more
        close = difflib.get_close_matches(name, available, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        listing = f" (available: {shown})" if available else " (nothing is available there)"
        ExpressionError.__init__(
            self, f"unknown name {name!r}{place}{listing}{hint}", expression, position
        )


class _NilChain(Exception):
    """Raised by `a?.b` when `a` is nil; caught at the chain root, which yields nil."""


def evaluate_expr(text: str, env: Mapping[str, Any]) -> Any:
    """Evaluate `text` against `env` (nested maps; see `expand_env` for Argo's flat keys)."""
    return _Evaluator(text, env).eval(parse_expr(text.strip()))


def expand_env(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Turn Argo's flat `{"inputs.parameters.x": v}` scope into nested maps for lookups.

    When both `a` and `a.b` exist the less specific key is dropped, as Argo's util/expand does.
    """
    keys = sorted(flat)
    nested: dict[str, Any] = {}
    for index, key in enumerate(keys):
        if index + 1 < len(keys) and keys[index + 1].startswith(key + "."):
            continue
        node = nested
        *parents, leaf = key.split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[leaf] = flat[key]
    return nested


def _describe(node: Node) -> str:
    """Render the source path of a lookup (`steps["a-b"].outputs`) for error messages."""
    if isinstance(node, Ident):
        return node.name
    if isinstance(node, Pointer):
        return "#" + node.name
    if isinstance(node, Chain):
        return _describe(node.node)
    if isinstance(node, Member) and isinstance(node.key, Literal):
        base, key = _describe(node.obj), node.key.value
        if isinstance(key, str) and key.isidentifier():
            return f"{base}.{key}"
        return f"{base}[{key!r}]"
    return "the value"


_TIME_METHODS: dict[str, Callable[..., Any]] = {
    "Unix": lambda t: int(as_utc(t).timestamp()),
    "UnixMilli": lambda t: int(as_utc(t).timestamp() * 1000),
    "Year": lambda t: t.year, "Month": lambda t: t.month, "Day": lambda t: t.day,
    "Hour": lambda t: t.hour, "Minute": lambda t: t.minute, "Second": lambda t: t.second,
    "YearDay": lambda t: t.timetuple().tm_yday, "Weekday": lambda t: (t.weekday() + 1) % 7,
    "Format": format_layout, "UTC": lambda t: as_utc(t).astimezone(as_utc(t).tzinfo),
    "Sub": lambda t, u: as_utc(t) - as_utc(u), "Add": lambda t, d: t + d,
    "Before": lambda t, u: as_utc(t) < as_utc(u), "After": lambda t, u: as_utc(t) > as_utc(u),
    "Equal": lambda t, u: as_utc(t) == as_utc(u), "String": rfc3339,
}  # fmt: skip
_DURATION_METHODS: dict[str, Callable[..., Any]] = {
    "Hours": lambda d: d.total_seconds() / 3600, "Minutes": lambda d: d.total_seconds() / 60,
    "Seconds": lambda d: d.total_seconds(),
    "Milliseconds": lambda d: int(d / timedelta(milliseconds=1)),
    "Microseconds": lambda d: int(d / timedelta(microseconds=1)),
    "Nanoseconds": lambda d: int(d / timedelta(microseconds=1)) * 1000,
    "String": go_duration_string, "Abs": abs,
}  # fmt: skip


class _Evaluator:
    def __init__(self, text: str, env: Mapping[str, Any]) -> None:
        self.text = text
        self.env = env
        self.frames: list[dict[str, Any]] = []

    def fail(self, message: str, node: Node) -> ExpressionError:
        return ExpressionError(message, self.text, node.pos)

    def eval(self, node: Node, lenient: bool = False) -> Any:
        try:
            return self._dispatch(node, lenient)
        except EvalFault as fault:
            raise self.fail(str(fault), node) from None

    def _dispatch(self, node: Node, lenient: bool) -> Any:
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Ident):
            return self._ident(node, lenient)
        if isinstance(node, Member):
            return self._member(node, lenient)
        if isinstance(node, Chain):
            try:
                return self.eval(node.node, lenient)
            except _NilChain:
                return None
        if isinstance(node, Binary):
            return self._binary(node, lenient)
        if isinstance(node, Unary):
            return self._unary(node)
        if isinstance(node, Conditional):
            return self._conditional(node)
        if isinstance(node, Call):
            return self._call(node)
        if isinstance(node, ArrayLit):
            return [self.eval(item) for item in node.items]
        if isinstance(node, MapLit):
            return {self.eval(k): self.eval(v) for k, v in node.pairs}
        if isinstance(node, Slice):
            return self._slice(node, lenient)
        if isinstance(node, Pointer):
            frame = self.frames[-1]
            if node.name not in frame:
                raise self.fail(f"'#{node.name}' is not defined in this predicate", node)
            return frame[node.name]
        raise self.fail("a predicate is only allowed as an argument of filter, map, all, ...", node)

    def _ident(self, node: Ident, lenient: bool) -> Any:
        if node.name in self.env:
            return self.env[node.name]
        if node.name == "$env":
            return self.env
        if node.name == "sprig":
            return SPRIG
        if lenient:
            return None
        raise UndefinedName(node.name, "", sorted(map(str, self.env)), self.text, node.pos)

    def _member(self, node: Member, lenient: bool) -> Any:
        obj = self.eval(node.obj, lenient)
        key = self.eval(node.key)
        if obj is None:
            if node.optional:
                raise _NilChain()
            if lenient:
                return None
            raise self.fail(f"cannot read {key!r} of {_describe(node.obj)}, which is nil", node)
        if isinstance(obj, Mapping):
            if key in obj:
                return obj[key]
            if lenient or node.optional:
                return None
            raise UndefinedName(
                str(key), _describe(node.obj), sorted(map(str, obj)), self.text, node.pos
            )
        if is_list(obj) or isinstance(obj, str):
            if not isinstance(key, int) or isinstance(key, bool):
                raise self.fail(
                    f"{_describe(node.obj)} is {type_name(obj)}; index it with an "
                    f"integer, not {type_name(key)} {key!r}",
                    node,
                )
            if -len(obj) <= key < len(obj):
                return obj[key]
            if lenient or node.optional:
                return None
            raise self.fail(
                f"index {key} out of range for {_describe(node.obj)} (length {len(obj)})", node
            )
        raise self.fail(
            f"cannot read {key!r} of {_describe(node.obj)}: it is "
            f"{type_name(obj)}, not a map or array",
            node,
        )

    def _slice(self, node: Slice, lenient: bool) -> Any:
        obj = self.eval(node.obj, lenient)
        if not (is_list(obj) or isinstance(obj, str)):
            raise self.fail(f"cannot slice {type_name(obj)}", node)
        bounds = []
        for bound in (node.start, node.stop):
            value = None if bound is None else self.eval(bound)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise self.fail(f"slice bounds must be integers, got {type_name(value)}", node)
            bounds.append(value)
        result = obj[bounds[0] : bounds[1]]
        return list(result) if is_list(obj) else result

    def _bool(self, value: Any, node: Node, role: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(f"{role} must be a bool, got {type_name(value)} {value!r}", node)
        return value

    def _binary(self, node: Binary, lenient: bool) -> Any:
        op = node.op
        if op in ("&&", "and", "||", "or"):
            left = self._bool(self.eval(node.left), node, f"left side of {op!r}")
            if left == (op in ("||", "or")):
                return left
            return self._bool(self.eval(node.right), node, f"right side of {op!r}")
        if op == "??":  # `a ?? b ?? c`: only the last fallback must exist
            left = self.eval(node.left, lenient=True)
            return self.eval(node.right, lenient) if left is None else left
        nil_test = op in ("==", "!=") and (_is_nil(node.left) or _is_nil(node.right))
        left = self.eval(node.left, lenient=nil_test)
        right = self.eval(node.right, lenient=nil_test)
        try:
            return ops.binary(op, left, right)
        except EvalFault as fault:
            raise self.fail(str(fault), node) from None

    def _unary(self, node: Unary) -> Any:
        value = self.eval(node.operand)
        if node.op in ("!", "not"):
            return not self._bool(value, node, f"operand of {node.op!r}")
        if node.op == "-":
            return ops.negate(value)
        if not is_number(value):
            raise self.fail(f"invalid operation: +{type_name(value)} (needs a number)", node)
        return value

    def _conditional(self, node: Conditional) -> Any:
        cond = self.eval(node.cond)
        if node.then is None:
            return cond if cond is not None and cond is not False else self.eval(node.other)
        chosen = self._bool(cond, node, "ternary condition")
        return self.eval(node.then if chosen else node.other)

    def _call(self, node: Call) -> Any:
        if node.obj is None and len(node.args) > 1 and isinstance(node.args[1], Predicate):
            from engine.expressions._expr_predicates import run_predicate

            return run_predicate(self, node)
        fn, label = self._callee(node)
        args = [self.eval(arg) for arg in node.args]
        try:
            return fn(*args)
        except (
            EvalFault,
            TypeError,
            ValueError,
            KeyError,
            IndexError,
            AttributeError,
            ZeroDivisionError,
            OverflowError,
        ) as err:
            raise self.fail(f"{label}(): {err}", node) from None

    def _callee(self, node: Call) -> tuple[Callable[..., Any], str]:
        if node.obj is None:
            fn = self.env.get(node.name)
            if callable(fn):
                return fn, node.name
            if node.name in BUILTINS:
                return BUILTINS[node.name], node.name
            known = sorted(set(BUILTINS) | {k for k, v in self.env.items() if callable(v)})
            close = difflib.get_close_matches(node.name, known, n=1)
            hint = f"; did you mean {close[0]}()?" if close else ""
            raise self.fail(f"unknown function {node.name}(){hint}", node)
        owner = self.eval(node.obj)
        label = f"{_describe(node.obj)}.{node.name}"
        if isinstance(owner, Mapping):
            fn = owner.get(node.name)
            if callable(fn):
                return fn, label
            if fn is None:
                close = difflib.get_close_matches(node.name, [str(k) for k in owner], n=1)
                hint = f"; did you mean {close[0]}?" if close else ""
                raise self.fail(f"unknown function {label}(){hint}", node)
            raise self.fail(f"{label} is {type_name(fn)}, not a function", node)
        methods = (
            _TIME_METHODS
            if isinstance(owner, datetime)
            else (_DURATION_METHODS if isinstance(owner, timedelta) else {})
        )
        if node.name in methods:
            method = methods[node.name]
            return (lambda *a: method(owner, *a)), label
        raise self.fail(f"{type_name(owner)} has no method {node.name}()", node)


def _is_nil(node: Node) -> bool:
    return isinstance(node, Literal) and node.value is None
