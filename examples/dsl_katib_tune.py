"""Hyperparameter tuning in a pipeline: `katib.tune` runs a Katib Experiment step.

The objective is a plain function: each trial (a batch/v1 Job) calls it with one assignment and
its returned number is the trial's `loss`. The tuning task's `best_parameters` (typed dict),
`best_objective` (float) and `trials` table (JSON rows) feed a downstream component. Run it
with `kubepipe run examples/dsl_katib_tune.py`.
"""

from __future__ import annotations

import dsl
from components import katib


def quadratic(x: float, layers: int, opt: str) -> float:
    """A noisy-free quadratic bowl; the optimizer choice adds a constant penalty."""
    penalty = {"sgd": 0.5, "adam": 0.0}[opt]
    return (x - 0.3) ** 2 + (layers - 2) ** 2 + penalty


@dsl.component
def check_best(best: dict, loss: float, trials: dsl.Input[dsl.Dataset]) -> str:
    """Fail unless `best` is the assignment of the lowest-loss trial in the table."""
    import json

    with open(trials.path, encoding="utf-8") as handle:
        rows = json.load(handle)
    reported = [r for r in rows if r["objective"] is not None]
    lowest = min(reported, key=lambda r: r["objective"])
    if abs(lowest["objective"] - loss) > 1e-9 or {k: lowest[k] for k in best} != best:
        raise SystemExit("best %r (loss %r) is not the best trial %r" % (best, loss, lowest))
    return "%d trials; best %s loss=%.4f" % (len(rows), json.dumps(best, sort_keys=True), loss)


def _space() -> dict[str, katib.SearchSpace]:
    return {
        "x": katib.search.double(0.01, 1.0, log=True),
        "layers": katib.search.int(1, 4),
        "opt": katib.search.categorical(["sgd", "adam"]),
    }


@dsl.pipeline(name="katib-tune")
def katib_tune() -> dict:  # type: ignore[type-arg]
    """Tune the quadratic with tpe and with random search; check each result downstream."""
    tpe = katib.tune(
        objective=quadratic,
        parameters=_space(),
        objective_metric_name="loss",
        objective_type="minimize",
        algorithm_name="tpe",
        algorithm_settings={"random_state": 7},
        max_trial_count=4,
        parallel_trial_count=2,
        max_failed_trial_count=1,
    )
    rnd = katib.tune(
        objective=quadratic,
        parameters=_space(),
        objective_metric_name="loss",
        objective_type="minimize",
        algorithm_name="random",
        algorithm_settings={"random_state": 7},
        max_trial_count=3,
        parallel_trial_count=3,
        name="random-search",
    )
    for task in (tpe, rnd):
        check_best(
            best=task.outputs["best_parameters"],
            loss=task.outputs["best_objective"],
            trials=task.outputs["trials"],
        )
    return tpe.outputs["best_parameters"]
