from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output


@dsl.component
def load(n: int, data: Output[Dataset]):
    with open(data.path, "w") as f:
        f.write(",".join(str(i) for i in range(n)))


@dsl.component
def fit(data: Input[Dataset], model: Output[Model], metrics: Output[Metrics]) -> float:
    values = [int(x) for x in open(data.path).read().split(",")]
    mean = sum(values) / len(values)
    with open(model.path, "w") as f:
        f.write(str(mean))
    metrics.log_metric("mean", mean)
    return mean


@dsl.pipeline(name="kfp-artifacts")
def pipeline(n: int = 10) -> float:
    return fit(data=load(n=n).outputs["data"]).outputs["Output"]


def expected() -> dict:
    return {"Output": sum(range(10)) / 10}
