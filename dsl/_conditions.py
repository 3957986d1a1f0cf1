"""`dsl.If`/`Elif`/`Else` as Argo `when` text: the clauses of every condition group a task is in.

Argo substitutes `{{...}}` first and hands the text to govaluate. Numbers compare as numbers;
everything else compares as quoted strings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dsl._graph import Channel, ConditionGroup, Group, Predicate
from dsl._wire import encode_constant

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
    """One comparison in govaluate syntax, negated for the branches after it."""
    numeric = any(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in (p.left, p.right)
    ) or any(
        isinstance(v, Channel) and v.type.removeprefix("optional_") in ("int", "float")
        for v in (p.left, p.right)
    )

    def side(v: Any) -> str:
        if isinstance(v, Channel):
            text = resolve(v)
        elif isinstance(v, bool):
            text = "true" if v else "false"
        else:
            text = encode_constant(v)
        return text if numeric else "'%s'" % text

    text = f"{side(p.left)} {p.op} {side(p.right)}"
    return f"!({text})" if p.negated else f"({text})"
