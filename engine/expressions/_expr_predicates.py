"""expr-lang's closure functions: `filter(list, {# > 1})`, `map`, `all`, `reduce`, ...

Inside the braces `#` is the current element, `#index` its position and `#acc` the running
value of `reduce`; `.field` is shorthand for `#.field`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine.expressions._expr_parser import Call, Predicate
from engine.expressions._values import go_sprint, is_list, is_number, type_name

if TYPE_CHECKING:
    from engine.expressions.expr import _Evaluator


def run_predicate(ev: _Evaluator, node: Call) -> Any:
    """Evaluate a closure builtin call; the evaluator supplies scoping and error positions."""
    name = node.name
    items = ev.eval(node.args[0])
    if items is None:
        items = []
    if isinstance(items, Mapping):
        items = list(items.values())
    if not is_list(items):
        raise ev.fail(
            f"{name}() needs an array as its first argument, got {type_name(items)}", node
        )
    predicate = node.args[1]
    assert isinstance(predicate, Predicate)
    extra = [ev.eval(arg) for arg in node.args[2:]]

    def run(item: Any, index: int, **more: Any) -> Any:
        ev.frames.append({"": item, "index": index, **more})
        try:
            return ev.eval(predicate.body)
        finally:
            ev.frames.pop()

    def test(item: Any, index: int) -> bool:
        result = run(item, index)
        if not isinstance(result, bool):
            raise ev.fail(
                f"the predicate of {name}() must return a bool, got "
                f"{type_name(result)} {go_sprint(result)!r}",
                predicate,
            )
        return result

    indexed = list(enumerate(items))
    if name == "filter":
        return [item for i, item in indexed if test(item, i)]
    if name == "map":
        return [run(item, i) for i, item in indexed]
    if name == "all":
        return all(test(item, i) for i, item in indexed)
    if name == "any":
        return any(test(item, i) for i, item in indexed)
    if name == "none":
        return not any(test(item, i) for i, item in indexed)
    if name == "one":
        return sum(1 for i, item in indexed if test(item, i)) == 1
    if name == "count":
        return sum(1 for i, item in indexed if test(item, i))
    if name in ("find", "findIndex"):
        hit = next(((i, item) for i, item in indexed if test(item, i)), None)
        return _found(name, hit)
    if name in ("findLast", "findLastIndex"):
        hit = next(((i, item) for i, item in reversed(indexed) if test(item, i)), None)
        return _found(name, hit)
    if name == "sum":
        values = [run(item, i) for i, item in indexed]
        if not all(is_number(v) for v in values):
            raise ev.fail("sum() needs numbers", predicate)
        return sum(values)
    if name == "groupBy":
        groups: dict[Any, list[Any]] = {}
        for i, item in indexed:
            groups.setdefault(run(item, i), []).append(item)
        return groups
    if name == "sortBy":
        order = extra[0] if extra else "asc"
        keyed = [(run(item, i), item) for i, item in indexed]
        try:
            keyed.sort(key=lambda pair: pair[0], reverse=order == "desc")
        except TypeError:
            raise ev.fail("sortBy() keys must be of one comparable type", predicate) from None
        return [item for _, item in keyed]
    # reduce
    if extra:
        acc, start = extra[0], 0
    elif items:
        acc, start = items[0], 1
    else:
        return None
    for i, item in indexed[start:]:
        acc = run(item, i, acc=acc)
    return acc


def _found(name: str, hit: tuple[int, Any] | None) -> Any:
    if name.endswith("Index"):
        return -1 if hit is None else hit[0]
    return None if hit is None else hit[1]
