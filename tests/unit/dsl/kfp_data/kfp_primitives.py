from typing import NamedTuple

from kfp import dsl


@dsl.component(base_image="python:3.11")
def divmod_op(a: int, b: int) -> NamedTuple("Outputs", [("quotient", int), ("remainder", int)]):
    from collections import namedtuple

    return namedtuple("Outputs", ["quotient", "remainder"])(a // b, a % b)


@dsl.component
def join(q: int, r: int, sep: str = "r") -> str:
    return f"{q}{sep}{r}"


@dsl.pipeline(name="kfp-primitives")
def pipeline(a: int = 17, b: int = 5) -> str:
    d = divmod_op(a=a, b=b)
    return join(q=d.outputs["quotient"], r=d.outputs["remainder"]).output


def expected() -> dict:
    q, r = divmod_op.python_func(17, 5)
    return {"Output": join.python_func(q, r)}
