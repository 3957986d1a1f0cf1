"""dsl.Collected over artifacts: every iteration's Output[...] reaches one Input[List[...]].

Run it: kubepipe run examples/dsl_collected_artifacts.py -p count=4

Each iteration stores its artifact under one key prefix of the run; the consumer receives the
list in iteration order, each artifact with its `.path`, `.uri`, `.name` and the `.metadata`
its producer set. A nested pipeline can return such a list too (`gather_models`).
"""

from typing import List, NamedTuple

import dsl
from dsl import Dataset, Input, Model, Output


@dsl.component
def shard_names(count: int) -> List[str]:
    return [f"shard-{i}" for i in range(count)]


@dsl.component
def write_shard(name: str, shard: Output[Dataset]):
    with open(shard.path, "w", encoding="utf-8") as handle:
        handle.write(name.upper())
    shard.metadata["source"] = name


@dsl.component
def merge(shards: Input[List[Dataset]]) -> str:
    parts = []
    for shard in shards:
        with open(shard.path, encoding="utf-8") as handle:
            parts.append(f"{handle.read()}/{shard.metadata['source']}")
    return ",".join(parts)


@dsl.component
def train(size: int, model: Output[Model]):
    import os

    os.makedirs(model.path, exist_ok=True)
    with open(os.path.join(model.path, "weights.txt"), "w", encoding="utf-8") as handle:
        handle.write("w" * size)
    model.framework = "toy"
    model.metadata["size"] = size


@dsl.component
def describe(models: Input[List[Model]]) -> str:
    import os

    lines = []
    for model in models:
        with open(os.path.join(model.path, "weights.txt"), encoding="utf-8") as handle:
            weights = handle.read()
        lines.append(f"{model.name}:{model.framework}:{model.metadata['size']}:{len(weights)}")
    return ";".join(lines)


@dsl.pipeline(name="gather-models")
def gather_models() -> List[Model]:
    with dsl.ParallelFor([3, 1, 2]) as size:
        trained = train(size=size)
    return dsl.Collected(trained.outputs["model"])


class Outputs(NamedTuple):
    merged: str
    models: str


@dsl.pipeline(name="collected-artifacts")
def collected_artifacts(count: int = 3) -> Outputs:
    names = shard_names(count=count)
    with dsl.ParallelFor(names.output, parallelism=2) as name:
        shard = write_shard(name=name)
    merged = merge(shards=dsl.Collected(shard.outputs["shard"]))
    models = gather_models()
    described = describe(models=models.output)
    return Outputs(merged=merged.output, models=described.output)
