from kfp import dsl


@dsl.component
def flip(seed: int) -> str:
    return "heads" if seed % 2 == 0 else "tails"


@dsl.component
def announce(side: str) -> str:
    return f"it was {side}"


@dsl.pipeline(name="kfp-conditions")
def pipeline(seed: int = 4):
    side = flip(seed=seed)
    with dsl.If(side.output == "heads"):
        announce(side=side.output).set_display_name("on-heads")
    with dsl.Else():
        announce(side=side.output).set_display_name("on-tails")


def expected_nodes() -> dict:
    heads = flip.python_func(4) == "heads"
    return {"on-heads": "Succeeded" if heads else "Skipped", "on-tails": "Skipped" if heads else "Succeeded"}
