"""dsl.OneOf: the output of whichever dsl.If/Elif/Else branch ran, used downstream and returned.

Run it: kubepipe run examples/dsl_one_of.py -p n=50
"""

import dsl


@dsl.component
def square(n: int) -> int:
    return n * n


@dsl.component
def label(text: str) -> str:
    return text


@dsl.component
def shout(text: str) -> str:
    return text.upper() + "!"


@dsl.pipeline(name="one-of")
def one_of(n: int = 3) -> str:
    sq = square(n=n)
    with dsl.If(sq.output > 100):
        big = label(text="big")
    with dsl.Elif(sq.output > 5):
        medium = label(text="medium")
    with dsl.Else():
        small = label(text="small")
    size = dsl.OneOf(big.output, medium.output, small.output)
    shout(text=size).set_display_name("shout")
    return size
