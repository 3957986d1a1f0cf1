"""A pipeline used as a component of another pipeline becomes a nested DAG template.

Run it: kubepipe run examples/dsl_nested.py -p x=3
"""

import dsl


@dsl.component
def double(n: int) -> int:
    return 2 * n


@dsl.component
def add(a: int, b: int) -> int:
    return a + b


@dsl.pipeline(name="quadruple")
def quadruple(n: int = 1) -> int:
    return double(n=double(n=n).output).output


@dsl.pipeline(name="nested")
def nested(x: int = 3) -> int:
    four_x = quadruple(n=x)
    return add(a=four_x.output, b=x).output
