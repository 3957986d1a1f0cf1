"""KFP's command-line placeholders for container components: ConcatPlaceholder, IfPresentPlaceholder.

A container component's function runs once, at decoration time, with Argo placeholder strings
for its inputs; what it returns may hold these objects. They are expanded per task when the
template is written: which optional inputs a task passes is known then, so an
`IfPresentPlaceholder` becomes its `then` or its `else_` items in that task's template.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from dsl._bootstrap import Artifact


class ConcatPlaceholder:
    """`ConcatPlaceholder(["--out=", path])`: one argument made of several pieces."""

    def __init__(self, items: list[Any]) -> None:
        self.items = list(items)

    def __repr__(self) -> str:
        return f"ConcatPlaceholder({self.items!r})"


class IfPresentPlaceholder:
    """`IfPresentPlaceholder(input_name="x", then=["--x", x], else_=[])`: arguments that exist
    only when the task passes optional input `x` (or `else_` when it does not)."""

    def __init__(self, input_name: str, then: Any, else_: Any = None) -> None:
        self.input_name = input_name
        self.then = then if isinstance(then, list) else [then]
        self.else_ = [] if else_ is None else else_ if isinstance(else_, list) else [else_]

    def __repr__(self) -> str:
        return f"IfPresentPlaceholder(input_name={self.input_name!r})"


def if_present_inputs(items: list[Any]) -> list[str]:
    """Every input name an IfPresentPlaceholder in `items` asks about (nested ones too)."""
    found: list[str] = []
    for item in items:
        if isinstance(item, IfPresentPlaceholder):
            found += [item.input_name] + if_present_inputs(item.then + item.else_)
        elif isinstance(item, ConcatPlaceholder):
            found += if_present_inputs(item.items)
    return found


def expand(items: list[Any], present: Collection[str]) -> list[str]:
    """The argv strings of `items` for a task that passes the inputs named in `present`."""
    out: list[str] = []
    for item in items:
        if isinstance(item, IfPresentPlaceholder):
            out += expand(item.then if item.input_name in present else item.else_, present)
        elif isinstance(item, ConcatPlaceholder):
            out.append("".join(expand(item.items, present)))
        else:
            out.append(item.path if isinstance(item, Artifact) else str(item))
    return out
