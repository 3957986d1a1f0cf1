"""Primitives in and out: typed parameters, a single return and a NamedTuple of several.

Run it: kubepipe run examples/dsl_primitives.py -p x=4
"""

from typing import Dict, List, NamedTuple

import dsl


@dsl.component
def add(a: int, b: int = 1) -> int:
    """Add two integers."""
    return a + b


@dsl.component
def describe(values: List[float], label: str = "values") -> NamedTuple(
    "Description", [("total", float), ("count", int), ("summary", Dict[str, float])]
):
    """Summarise a list of numbers."""
    from collections import namedtuple

    total = float(sum(values))
    summary = {"min": min(values), "max": max(values)}
    return namedtuple("Description", ["total", "count", "summary"])(total, len(values), summary)


@dsl.component
def greet(name: str, excited: bool = False) -> str:
    return f"hello, {name}" + ("!" if excited else "")


@dsl.pipeline(name="primitives", description="parameters, single and NamedTuple outputs")
def primitives(x: int = 2, name: str = "kubepipe") -> NamedTuple(
    "Outputs", [("total", float), ("count", int), ("greeting", str), ("next", int)]
):
    first = add(a=x)
    second = add(a=first.output, b=10)
    stats = describe(values=[1.5, 2.5, 3.0])
    hello = greet(name=name, excited=True)
    from collections import namedtuple

    return namedtuple("Outputs", ["total", "count", "greeting", "next"])(
        stats.outputs["total"], stats.outputs["count"], hello.output, second.output
    )


if __name__ == "__main__":
    dsl.compile(primitives, "primitives.yaml")
