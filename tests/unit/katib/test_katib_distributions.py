"""normal/logNormal parameters: Katib's mu/sigma (its hyperopt service), draws inside
[min, max], TPE tuning through the quantile, restarts that reproduce, and refusals naming the
field for algorithms that cannot draw from them."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from katib_support import experiment

from components.katib import UnsupportedFeature, check_runnable
from components.katib.conditions import TrialCondition
from components.katib.spec import ExperimentSpec
from components.katib.spec import parse_experiment as parse
from components.katib.suggest import TrialView, suggest
from components.katib.suggest.space import from_quantile, normal_params, to_quantile

Objective = Callable[[Mapping[str, str]], float]


def param(name: str, kind: str, low: str, high: str, dist: str, **extra: str) -> dict[str, Any]:
    return {
        "name": name,
        "parameterType": kind,
        "feasibleSpace": {"min": low, "max": high, "distribution": dist, **extra},
    }


PARAMS = [
    param("x", "double", "-5", "10", "normal"),  # mu 2.5, sigma 2.5
    param("n", "int", "0", "60", "normal"),  # mu 30, sigma 10
    param("lr", "double", "0.01", "100", "logNormal"),  # log: mu 0, sigma ln(1e4)/6
]


def spec_of(
    algorithm: str, settings: dict[str, str], params: list[dict[str, Any]]
) -> ExperimentSpec:
    exp = parse(experiment(algorithm, settings, parameters=params, args=[]))
    check_runnable(exp)
    return exp.spec


def loop(
    spec: ExperimentSpec, budget: int, objective: Objective, cut: int | None = None
) -> list[TrialView]:
    """The controller's suggest loop in batches of 2; `cut` reloads the state from JSON after
    that many trials, as a restarted engine does."""
    views: list[TrialView] = []
    state: Mapping[str, Any] = {"seed": 7}
    while len(views) < budget:
        reply = suggest(spec, views, min(2, budget - len(views)), state)
        state = reply.state
        for a in reply.assignments:
            views.append(
                TrialView(
                    f"t{len(views)}",
                    a.parameters,
                    {},
                    TrialCondition.SUCCEEDED,
                    objective(a.parameters),
                )
            )
        if cut is not None and len(views) >= cut:
            cut, state = None, json.loads(json.dumps(state))
    return views


def test_mu_and_sigma_are_katibs() -> None:
    spec = spec_of("random", {}, PARAMS)
    x, n, lr = spec.parameters
    assert normal_params(x) == (2.5, 2.5)
    assert normal_params(n) == (30.0, 10.0)
    mu, sigma = normal_params(lr)
    assert mu == pytest.approx(0.0, abs=1e-12)
    assert sigma == pytest.approx(math.log(1e4) / 6)
    # the quantile maps back where it came from (up to clipping at -3/+3 sigma)
    for u in (0.01, 0.2, 0.5, 0.9, 0.99):
        assert to_quantile(x, from_quantile(x, u)) == pytest.approx(u, abs=1e-9)
        assert to_quantile(lr, from_quantile(lr, u)) == pytest.approx(u, abs=1e-9)
    assert from_quantile(x, 0.0) == "-5.0" and from_quantile(x, 1.0) == "10.0"


@pytest.mark.parametrize(
    ("algorithm", "settings"), [("random", {"random_state": "4"}), ("sobol", {"random_state": "4"})]
)
def test_draws_follow_katibs_distribution_inside_the_box(
    algorithm: str, settings: dict[str, str]
) -> None:
    spec = spec_of(algorithm, settings, PARAMS)
    draws = suggest(spec, [], 1024, {}).assignments
    xs = [float(a.parameters["x"]) for a in draws]
    ns = [int(a.parameters["n"]) for a in draws]
    lrs = [float(a.parameters["lr"]) for a in draws]
    assert all(-5 <= v <= 10 for v in xs) and all(0 <= v <= 60 for v in ns)
    assert all(0.01 <= v <= 100 for v in lrs)
    # ~0.27% of a normal lies beyond 3 sigma and is clipped: sd shrinks by ~1.5%
    assert statistics.fmean(xs) == pytest.approx(2.5, abs=0.25)
    assert statistics.stdev(xs) == pytest.approx(2.5, rel=0.08)
    assert statistics.fmean(ns) == pytest.approx(30, abs=1.0)
    assert statistics.stdev(ns) == pytest.approx(10, rel=0.08)
    logs = [math.log(v) for v in lrs]
    assert statistics.fmean(logs) == pytest.approx(0.0, abs=0.15)
    assert statistics.stdev(logs) == pytest.approx(math.log(1e4) / 6, rel=0.08)
    # not uniform: the middle third of [min, max] is mu +- 1 sigma, ~68% of draws, not 33%
    middle = sum(0 <= v <= 5 for v in xs) / len(xs)
    assert 0.64 < middle < 0.73


def test_a_step_snaps_normal_draws_to_the_grid_from_min() -> None:
    spec = spec_of(
        "random",
        {"random_state": "2"},
        [param("lr", "double", "0.01", "0.05", "normal", step="0.01")],
    )
    values = {a.parameters["lr"] for a in suggest(spec, [], 200, {}).assignments}
    assert values <= {"0.01", "0.02", "0.03", "0.04", "0.05"}
    assert "0.03" in values and len(values) >= 3


def quadratic(p: Mapping[str, str]) -> float:
    """Minimum at x = 6 (1.4 sigma off Katib's mu) and lr = 3."""
    return (float(p["x"]) - 6.0) ** 2 + math.log10(float(p["lr"]) / 3.0) ** 2


def test_tpe_tunes_a_quadratic_over_normal_parameters() -> None:
    params = [PARAMS[0], PARAMS[2]]
    tpe = loop(spec_of("tpe", {"random_state": "3"}, params), 30, quadratic)
    rand = loop(spec_of("random", {"random_state": "3"}, params), 30, quadratic)
    best = min(v.objective or 0.0 for v in tpe)
    assert best < 0.05, best
    assert best < min(v.objective or 0.0 for v in rand)
    late = [v.objective or 0.0 for v in tpe[15:]]
    assert statistics.median(late) < statistics.median(v.objective or 0.0 for v in tpe[:5])


@pytest.mark.parametrize(
    ("algorithm", "settings"),
    [
        ("tpe", {"random_state": "5"}),
        ("cmaes", {"random_state": "5"}),
        ("multivariate-tpe", {"random_state": "5", "n_startup_trials": "3"}),
        ("bayesianoptimization", {"random_state": "5", "n_initial_points": "3"}),
    ],
)
def test_a_restart_from_saved_state_reproduces(algorithm: str, settings: dict[str, str]) -> None:
    spec = spec_of(algorithm, settings, PARAMS)

    def objective(p: Mapping[str, str]) -> float:
        return quadratic(p) + (int(p["n"]) - 40) ** 2 / 100

    whole = loop(spec, 12, objective)
    resumed = loop(spec, 12, objective, cut=5)
    assert [v.parameters for v in whole] == [v.parameters for v in resumed]
    assert len({tuple(v.parameters.items()) for v in whole}) >= 10


@pytest.mark.parametrize(
    ("algorithm", "settings", "why"),
    [
        ("grid", {}, "a grid enumerates values evenly"),
        ("hyperband", {"r_l": "9", "resource_name": "n"}, "uniform draws"),
    ],
)
def test_algorithms_that_cannot_draw_normals_refuse_naming_the_field(
    algorithm: str, settings: dict[str, str], why: str
) -> None:
    params = [
        param("x", "double", "-5", "10", "uniform", step="1"),
        param("n", "int", "1", "9", "logNormal"),
    ]
    exp = parse(experiment(algorithm, settings, parameters=params, args=[]))
    with pytest.raises(UnsupportedFeature, match=why) as info:
        check_runnable(exp)
    assert info.value.where == "spec.parameters[1].feasibleSpace.distribution"
    assert "distribution 'logNormal' of 'n'" in str(info.value)
    assert f"algorithm {algorithm!r}" in str(info.value)
    assert "cmaes, sobol or bayesianoptimization" in str(info.value)  # the ones that can


@pytest.mark.parametrize(
    ("kind", "low", "high", "step"),
    [("double", "0.001", "1", "0.01"), ("int", "1", "1000", "10")],
)
def test_a_log_scale_with_a_step_is_refused_naming_the_field(
    kind: str, low: str, high: str, step: str
) -> None:
    params = [
        param("x", "double", "-5", "10", "uniform"),
        param("v", kind, low, high, "logUniform", step=step),
    ]
    exp = parse(experiment("tpe", {}, parameters=params, args=[]))
    with pytest.raises(
        UnsupportedFeature, match=f"a logUniform {kind} cannot also have a step"
    ) as info:
        check_runnable(exp)
    assert info.value.where == "spec.parameters[1].feasibleSpace.distribution"


def test_a_log_scale_int_with_step_one_runs() -> None:
    params = [param("v", "int", "1", "1000", "logUniform", step="1")]
    views = loop(spec_of("tpe", {"random_state": "3"}, params), 6, lambda a: float(a["v"]))
    assert all(1 <= int(v.parameters["v"]) <= 1000 for v in views)
