"""dsl.If / dsl.Elif / dsl.Else: exactly one branch runs; the others are Skipped.

Run it: kubepipe run examples/dsl_conditions.py -p n=7
"""

import dsl


@dsl.component
def square(n: int) -> int:
    return n * n


@dsl.component
def say(text: str) -> str:
    print(text)
    return text


@dsl.pipeline(name="conditions")
def conditions(n: int = 3, mode: str = "loud"):
    sq = square(n=n)
    with dsl.If(sq.output > 40):
        say(text="big").set_display_name("big")
    with dsl.Elif(sq.output > 5):
        say(text="medium").set_display_name("medium")
    with dsl.Else():
        say(text="small").set_display_name("small")
    with dsl.Condition(mode == "loud"):
        say(text="LOUD").set_display_name("loud")
