"""dataset -> train -> evaluate: artifacts with Output[Dataset], Output[Model], Output[Metrics].

Run it: kubepipe run examples/dsl_train.py
"""

from typing import NamedTuple

import dsl
from dsl import Dataset, Input, Metrics, Model, Output


@dsl.component
def make_dataset(rows: int, dataset: Output[Dataset]):
    """Write `rows` points of y = 2x + 1 as CSV."""
    with open(dataset.path, "w") as f:
        for x in range(rows):
            f.write(f"{x},{2 * x + 1}\n")
    dataset.metadata["rows"] = rows


@dsl.component
def train(dataset: Input[Dataset], model: Output[Model]) -> float:
    """Least-squares fit of a line; the model file holds slope and intercept."""
    import json

    points = [tuple(map(float, line.split(","))) for line in open(dataset.path)]
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    slope = sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)
    with open(model.path, "w") as f:
        json.dump({"slope": slope, "intercept": my - slope * mx}, f)
    model.framework = "least-squares"
    return slope


@dsl.component
def evaluate(
    dataset: Input[Dataset], model: Input[Model], metrics: Output[Metrics]
) -> NamedTuple("Eval", [("mse", float), ("rows", int)]):
    import json
    from collections import namedtuple

    params = json.load(open(model.path))
    points = [tuple(map(float, line.split(","))) for line in open(dataset.path)]
    mse = sum((params["slope"] * x + params["intercept"] - y) ** 2 for x, y in points) / len(points)
    metrics.log_metric("mse", mse)
    metrics.log_metric("framework_seen", 1.0 if model.framework == "least-squares" else 0.0)
    return namedtuple("Eval", ["mse", "rows"])(mse, dataset.metadata["rows"])


@dsl.pipeline(name="train-evaluate")
def train_evaluate(rows: int = 20) -> NamedTuple("Outputs", [("slope", float), ("mse", float), ("rows", int)]):
    data = make_dataset(rows=rows)
    fitted = train(dataset=data.outputs["dataset"])
    scored = evaluate(dataset=data.outputs["dataset"], model=fitted.outputs["model"])
    from collections import namedtuple

    return namedtuple("Outputs", ["slope", "mse", "rows"])(
        fitted.outputs["Output"], scored.outputs["mse"], scored.outputs["rows"]
    )
