"""`dsl.If`/`Elif`/`Else` as Argo `when` text: the clauses of every condition group a task is in.

Argo substitutes `{{...}}` first and hands the text to govaluate. Every comparison is an
expression tag, `{{=inputs.parameters["mode"] == "it's"}}` or
`{{=asFloat(tasks["sq"]["outputs"]["parameters"]["Output"]) > 40}}`: the value is read as a
variable, never pasted into the condition's text, so no value (a quote, a backslash, or a
"number" such as `0 == 0 || 1`) can change what the condition says; govaluate then only sees
`true` or `false`. A number that does not parse fails the condition with an error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dsl._graph import Channel, ConditionGroup, Group, Predicate
from dsl._wire import encode_constant, expression_ref, expression_string

Resolve = Callable[[Channel], str]


def when_text(level: Any, groups: tuple[Group, ...], resolve: Resolve, is_root: bool) -> str | None:
    """The `when` of a DAG element in `level`: the clauses of its groups opened inside `level`.

    Conditions opened outside `level` were already checked on the block task that leads into it.
    """
    start = 0
    for i, g in enumerate(groups):
        if g is level:
            start = i + 1
    if not is_root and not any(g is level for g in groups):
        return None
    clauses = [p for g in groups[start:] if isinstance(g, ConditionGroup) for p in g.clauses]
    return " && ".join(predicate_text(p, resolve) for p in clauses) or None


def predicate_text(p: Predicate, resolve: Resolve) -> str:
    """One comparison for govaluate, negated for the branches after it."""
    kinds = {_kind(v) for v in (p.left, p.right)}
    side = _number if kinds & {"int", "float"} else _operand
    text = "{{=%s %s %s}}" % (side(p.left, resolve), p.op, side(p.right, resolve))
    return f"!({text})" if p.negated else f"({text})"


def _kind(value: Any) -> str:
    if isinstance(value, Channel):
        return value.type.removeprefix("optional_")
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "float"
    return "str"


def _number(value: Any, resolve: Resolve) -> str:
    """One side of a numeric comparison as an expr operand: a value parsed as a number."""
    if isinstance(value, Channel):
        return f"asFloat({expression_ref(resolve(value))})"
    if isinstance(value, bool):
        return "true" if value else "false"
    return encode_constant(value)


def _operand(value: Any, resolve: Resolve) -> str:
    """One side of a string comparison as an expr operand: a variable or a string literal."""
    if isinstance(value, Channel):
        return expression_ref(resolve(value))
    if isinstance(value, bool):
        return expression_string("true" if value else "false")
    return expression_string(encode_constant(value))
