"""`katib.tune(...)` authoring errors, raised while the pipeline is traced, in the author's words."""

from __future__ import annotations

import re
from typing import Any

import pytest

import dsl
from components import katib


def quadratic(x: float, opt: str) -> float:
    return (x - 0.3) ** 2 + (0.5 if opt == "sgd" else 0.0)


def _tune(objective: Any = quadratic, **space: Any) -> None:
    katib.tune(
        objective=objective,
        parameters=space
        or {"x": katib.search.double(0, 1), "opt": katib.search.categorical(["sgd", "adam"])},
        objective_metric_name="loss",
        objective_type="minimize",
        max_trial_count=2,
    )


def _error(body: Any) -> str:
    with pytest.raises(dsl.TracingError) as info:

        @dsl.pipeline(name="bad")
        def bad() -> None:
            body()

    return str(info.value)


def _here(message: str) -> None:
    """The message names this test file and a line in it."""
    assert re.search(r"test_katib_tune\.py:\d+", message), message


def test_unknown_search_type_names_the_line() -> None:
    message = _error(lambda: _tune(x=katib.search.float(0, 1)))
    assert "unknown search type 'float'" in message and "katib.search.double" in message
    _here(message)


def test_a_value_that_is_not_a_search_space_names_function_and_parameter() -> None:
    message = _error(lambda: _tune(x=(0, 1), opt=katib.search.categorical(["sgd"])))
    assert "objective='quadratic'" in message and "parameter 'x'" in message
    assert "not a search space" in message
    _here(message)


def test_min_above_max() -> None:
    message = _error(
        lambda: _tune(x=katib.search.double(2, 1), opt=katib.search.categorical(["sgd"]))
    )
    assert "objective='quadratic'" in message and "parameter 'x'" in message
    assert "min 2 > max 1" in message
    _here(message)


def test_int_bounds_log_and_empty_categorical() -> None:
    assert "integer" in _error(
        lambda: _tune(x=katib.search.int(0, 1.5), opt=katib.search.categorical(["a"]))
    )
    assert "log=True needs min > 0" in _error(
        lambda: _tune(x=katib.search.double(0, 1, log=True), opt=katib.search.categorical(["a"]))
    )
    message = _error(lambda: _tune(x=katib.search.double(0, 1), opt=katib.search.categorical([])))
    assert "parameter 'opt'" in message and "at least one value" in message


def test_objective_must_be_a_function() -> None:
    message = _error(lambda: _tune(objective="quadratic"))
    assert "objective must be a function" in message and "str 'quadratic'" in message
    _here(message)
    assert "objective must be a function" in _error(lambda: _tune(objective=lambda x, opt: x))


def test_a_tuned_parameter_the_objective_does_not_take() -> None:
    message = _error(
        lambda: _tune(
            x=katib.search.double(0, 1),
            opt=katib.search.categorical(["sgd"]),
            lr=katib.search.double(0.1, 1),
        )
    )
    assert "parameter 'lr'" in message and "quadratic() does not take 'lr'" in message
    assert "it takes: x, opt" in message
    _here(message)


def test_an_objective_parameter_nobody_tunes() -> None:
    message = _error(lambda: _tune(x=katib.search.double(0, 1)))
    assert "quadratic() needs 'opt'" in message


def test_annotation_against_the_space() -> None:
    message = _error(
        lambda: _tune(x=katib.search.categorical(["a", "b"]), opt=katib.search.categorical(["a"]))
    )
    assert "declares x: float" in message and "gives str values" in message


def test_experiment_errors_come_from_katib_validation() -> None:
    def body() -> None:
        katib.tune(
            objective=quadratic,
            parameters={"x": katib.search.double(0, 1), "opt": katib.search.categorical(["a"])},
            objective_metric_name="loss",
            algorithm_name="tpe",
            algorithm_settings={"n_startup_trials": 2},
        )

    message = _error(body)
    assert "'tpe' does not take the setting 'n_startup_trials'" in message
    _here(message)
    message = _error(
        lambda: katib.tune(
            objective=quadratic,
            parameters={"x": katib.search.double(0, 1), "opt": katib.search.categorical(["a"])},
            objective_metric_name="loss",
            algorithm_name="simulated-annealing",
        )
    )
    assert "simulated-annealing" in message and "algorithmName" in message, message


def test_outside_a_pipeline() -> None:
    with pytest.raises(dsl.TracingError, match="only meaningful inside a @dsl.pipeline"):
        _tune()


def test_compiled_experiment_runs_the_objective_through_the_dsl_bootstrap() -> None:
    import yaml

    from dsl.templates import bootstrap_source

    @dsl.pipeline(name="ok")
    def ok() -> dict:  # type: ignore[type-arg]
        return katib.tune(
            objective=quadratic,
            parameters={
                "x": katib.search.double(1e-3, 1, log=True),
                "opt": katib.search.categorical(["a", "b"]),
            },
            objective_metric_name="loss",
            objective_type="minimize",
            algorithm_name="random",
            max_trial_count=2,
        ).outputs["best_parameters"]

    workflow = yaml.safe_load(dsl.to_yaml(dsl.compile_workflow(ok)))
    resource = next(t for t in workflow["spec"]["templates"] if "resource" in t)
    manifest = yaml.safe_load(resource["resource"]["manifest"])
    assert manifest["kind"] == "Experiment" and resource["resource"]["action"] == "create"
    x = manifest["spec"]["parameters"][0]
    assert x["feasibleSpace"]["distribution"] == "logUniform"
    container = manifest["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert container["command"][:3] == ["python3", "-c", bootstrap_source()]
    assert container["args"] == ["x=${trialParameters.x}", "opt=${trialParameters.opt}"]
