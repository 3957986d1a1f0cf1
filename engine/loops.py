"""Fan-out: the items of withItems, withParam and withSequence, as Argo expands them."""

from __future__ import annotations

import json
from typing import Any

from engine.binding import render
from engine.errors import KubepipeError
from engine.scope import Scope
from engine.spec import _Invocation


class LoopError(KubepipeError):
    """A loop's items could not be computed; the task ends in Error with this message."""


def expand_loop(inv: _Invocation, scope: Scope) -> list[Any] | None:
    """The items to fan out over, or None when the invocation has no loop."""
    if inv.with_items is not None:
        return [_render_item(item, scope) for item in inv.with_items]
    if inv.with_param is not None:
        text = render(inv.with_param, scope)
        try:
            value = json.loads(text)
        except ValueError:
            raise LoopError(
                f"withParam value could not be parsed as a JSON list: {text[:200]!r} "
                f'(task {inv.name!r}; produce a JSON list such as ["a", "b"])'
            ) from None
        if not isinstance(value, list):
            raise LoopError(
                f"withParam value must be a JSON list, got {type(value).__name__}: "
                f"{text[:200]!r} (task {inv.name!r})"
            )
        return value
    if inv.with_sequence is not None:
        return _sequence(inv, scope)
    return None


def _render_item(item: Any, scope: Scope) -> Any:
    if isinstance(item, str):
        return render(item, scope)
    if isinstance(item, dict):
        return {k: _render_item(v, scope) for k, v in item.items()}
    if isinstance(item, list):
        return [_render_item(v, scope) for v in item]
    return item


def _sequence(inv: _Invocation, scope: Scope) -> list[Any]:
    seq = inv.with_sequence
    assert seq is not None

    def number(field: str, value: str | None) -> int | None:
        if value is None:
            return None
        text = render(value, scope)
        try:
            return int(text)
        except ValueError:
            raise LoopError(
                f"withSequence.{field} must be an integer, got {text!r} (task {inv.name!r})"
            ) from None

    count, start, end = (
        number("count", seq.count),
        number("start", seq.start),
        number("end", seq.end),
    )
    if count is not None and end is not None:
        raise LoopError(f"withSequence takes count or end, not both (task {inv.name!r})")
    first = start or 0
    if count is not None:
        values = list(range(first, first + count))
    elif end is not None:
        step = 1 if end >= first else -1
        values = list(range(first, end + step, step))
    else:
        raise LoopError(f"withSequence needs count or end (task {inv.name!r})")
    if seq.format:
        return [_printf(seq.format, v) for v in values]
    return [str(v) for v in values]


def _printf(fmt: str, value: int) -> str:
    try:
        return fmt % value
    except (TypeError, ValueError):
        raise LoopError(
            f"withSequence.format {fmt!r} is not a printf format for one integer"
        ) from None
