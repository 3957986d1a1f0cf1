"""Every algorithm behind the one suggest() signature, driven in-process on Branin: budgets,
reproducibility from seeds, state that resumes, hyperband's schedule, medianstop, metrics; and
bayesianoptimization over a space mixing every parameter kind."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from typing import Any

import pytest
from katib_support import BRANIN_MIN, branin, experiment

from components.katib.conditions import TrialCondition
from components.katib.earlystop import median_rule, should_stop
from components.katib.metrics import metric_value, parse_json_lines, parse_text_lines
from components.katib.settings import MedianStopSettings
from components.katib.spec import DEFAULT_STDOUT_FILTER, MetricStrategyType, ObjectiveType
from components.katib.spec import parse_experiment as parse
from components.katib.suggest import TrialView, suggest
from components.katib.suggest.hyperband import BRACKET_LABEL, RUNG_LABEL, s_max_of, schedule

ALGORITHMS: dict[str, dict[str, str]] = {
    "random": {"random_state": "3"},
    "tpe": {"random_state": "3"},
    "multivariate-tpe": {"random_state": "3", "n_startup_trials": "5"},
    "cmaes": {"random_state": "3"},
    "sobol": {},
    "bayesianoptimization": {"random_state": "3", "n_initial_points": "5"},
}


def drive(
    manifest: dict[str, Any],
    budget: int,
    parallel: int = 3,
    cut: int | None = None,
    objective: Any = None,
) -> tuple[list[TrialView], dict[str, Any]]:
    """Run the suggest loop as the controller does (parallel batches); `cut` restarts the state
    from its JSON form after that many trials, as a restarted engine would."""
    import json

    spec = parse(manifest).spec
    views: list[TrialView] = []
    state: Mapping[str, Any] = {"seed": 11}
    exhausted = False
    while len(views) < budget and not exhausted:
        count = min(parallel, budget - len(views))
        reply = suggest(spec, views, count, state)
        state, exhausted = json.loads(json.dumps(reply.state)), reply.exhausted
        for a in reply.assignments:
            value = (objective or (lambda p: branin(float(p["x"]), float(p["y"]))))(a.parameters)
            views.append(
                TrialView(f"t{len(views)}", a.parameters, a.labels, TrialCondition.SUCCEEDED, value)
            )
        if not reply.assignments and not exhausted:
            raise AssertionError("an algorithm stalled with every trial finished")
        if cut is not None and len(views) >= cut:
            cut = None
            state = json.loads(json.dumps(state))
    return views, dict(state)


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_each_algorithm_spends_its_budget_reproducibly_and_beats_its_first_guess(
    algorithm: str,
) -> None:
    manifest = experiment(algorithm, ALGORITHMS[algorithm])
    views, _ = drive(manifest, budget=24)
    again, _ = drive(manifest, budget=9)
    assert len(views) == 24
    assert [v.parameters for v in views[:9]] == [v.parameters for v in again]  # seeded
    for v in views:  # inside the box
        assert -5 <= float(v.parameters["x"]) <= 10 and 0 <= float(v.parameters["y"]) <= 15
    best = min(v.objective or 0.0 for v in views)
    assert BRANIN_MIN <= best < 10.0, f"{algorithm} best {best}"
    assert len({tuple(v.parameters.items()) for v in views}) >= 20


def test_the_gaussian_process_improves_on_random_over_seeds() -> None:
    """Median best of 3 seeds after 20 trials (bench/katib.py compares all, 10 seeds x 40)."""

    def median_best(algorithm: str, extra: dict[str, str]) -> float:
        bests = []
        for seed in range(3):
            manifest = experiment(algorithm, {"random_state": str(seed), **extra})
            views, _ = drive(manifest, budget=20)
            bests.append(min(v.objective or 0.0 for v in views))
        return statistics.median(bests)

    assert median_best("bayesianoptimization", {"n_initial_points": "6"}) < median_best(
        "random", {}
    )


MIXED = [
    {
        "name": "lr",
        "parameterType": "double",
        "feasibleSpace": {"min": "0.0001", "max": "1", "distribution": "logUniform"},
    },
    {"name": "layers", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "20"}},
    {
        "name": "optimizer",
        "parameterType": "categorical",
        "feasibleSpace": {"list": ["sgd", "adam", "rmsprop"]},
    },
    {
        "name": "shift",
        "parameterType": "double",
        "feasibleSpace": {"min": "-5", "max": "10", "distribution": "normal"},
    },
]
PENALTY = {"sgd": 2.0, "adam": 0.0, "rmsprop": 1.0}


def mixed_quadratic(p: Mapping[str, str]) -> float:
    """0 at lr 0.01, 13 layers, adam, shift 6 (1.4 sigma off Katib's mu for `shift`)."""
    return (
        (math.log10(float(p["lr"])) + 2) ** 2
        + ((int(p["layers"]) - 13) / 5) ** 2
        + PENALTY[p["optimizer"]]
        + ((float(p["shift"]) - 6) / 3) ** 2
    )


def test_the_gaussian_process_searches_a_space_of_every_parameter_kind() -> None:
    """Each parameter is one axis of a unit box (suggest/space.py to_unit/from_unit), so a
    categorical or normal parameter is searched like the rest instead of refused."""

    def bests(algorithm: str, extra: dict[str, str]) -> list[float]:
        out = []
        for seed in range(5):
            manifest = experiment(
                algorithm, {"random_state": str(seed), **extra}, parameters=MIXED, args=[]
            )
            views, _ = drive(manifest, budget=20, objective=mixed_quadratic)
            for v in views:
                p = v.parameters
                assert 1e-4 <= float(p["lr"]) <= 1 and -5 <= float(p["shift"]) <= 10
                assert 1 <= int(p["layers"]) <= 20 and p["optimizer"] in PENALTY
            assert len({tuple(v.parameters.items()) for v in views}) == 20
            out.append(min(v.objective or 0.0 for v in views))
        return out

    gp = bests("bayesianoptimization", {"n_initial_points": "6"})
    rand = bests("random", {})
    # medians of 5 seeds after 20 trials: about 0.17 against random's 0.74
    assert statistics.median(gp) < min(0.3, statistics.median(rand) / 2), (gp, rand)


def test_grid_visits_every_combination_once_then_ends() -> None:
    params = [
        {
            "name": "x",
            "parameterType": "double",
            "feasibleSpace": {"min": "-5", "max": "10", "step": "5"},
        },
        {"name": "y", "parameterType": "categorical", "feasibleSpace": {"list": ["0", "15"]}},
    ]
    manifest = experiment("grid", {"random_state": "1"}, parameters=params, max_trials=8)
    views, state = drive(
        manifest, budget=100, objective=lambda p: branin(float(p["x"]), float(p["y"]))
    )
    combos = [(v.parameters["x"], v.parameters["y"]) for v in views]
    assert sorted(combos) == sorted(
        (x, y) for x in ("-5.0", "0.0", "5.0", "10.0") for y in ("0", "15")
    )
    assert state["next"] == 8


def test_a_restarted_loop_continues_without_repeating_an_assignment() -> None:
    manifest = experiment("cmaes", {"random_state": "5"})
    whole, _ = drive(manifest, budget=12)
    resumed, _ = drive(manifest, budget=12, cut=6)
    assert [v.parameters for v in whole] == [v.parameters for v in resumed]
    assert len({tuple(v.parameters.items()) for v in whole}) == 12


@pytest.mark.parametrize(
    ("r_l", "eta", "s_max", "rungs"),
    [
        (9, 3, 2, [[(9, 1), (3, 3), (1, 9)], [(5, 3), (2, 9)], [(3, 9)]]),
        (243, 3, 5, None),
        (2, 2, 1, [[(2, 1), (1, 2)], [(2, 2)]]),
    ],
)
def test_hyperband_schedule_is_katibs_in_integer_arithmetic(
    r_l: int, eta: int, s_max: int, rungs: list[list[tuple[int, int]]] | None
) -> None:
    assert s_max_of(r_l, eta) == s_max
    if rungs is not None:
        assert [[(n, int(r)) for n, r in b] for b in schedule(r_l, eta)] == rungs
        assert sum(n for b in rungs for n, _ in b) == (23 if r_l == 9 else 5)


def test_hyperband_promotes_the_best_and_a_failed_rung_does_not_stall() -> None:
    params = [
        {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "-5", "max": "10"}},
        {"name": "y", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "15"}},
        {"name": "epochs", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "9"}},
    ]
    settings = {"resource_name": "epochs", "r_l": "9", "eta": "3", "random_state": "2"}
    manifest = experiment("hyperband", settings, parameters=params, max_trials=100)
    views, state = drive(manifest, budget=100, parallel=4)
    assert len(views) == 23 and state["hyperband"]["done"]
    rung = {(v.labels[BRACKET_LABEL], v.labels[RUNG_LABEL]) for v in views}
    assert rung == {("2", "0"), ("2", "1"), ("2", "2"), ("1", "0"), ("1", "1"), ("0", "0")}
    first = [v for v in views if v.labels[BRACKET_LABEL] == "2"]
    assert [v.parameters["epochs"] for v in first] == ["1"] * 9 + ["3"] * 3 + ["9"]
    best3 = sorted(first[:9], key=lambda v: v.objective or 0.0)[:3]
    promoted = {(v.parameters["x"], v.parameters["y"]) for v in first[9:12]}
    assert promoted == {(v.parameters["x"], v.parameters["y"]) for v in best3}

    # Every trial of the first rung fails: the bracket moves on instead of waiting.
    spec = parse(manifest).spec
    reply = suggest(spec, [], 9, {"seed": 1})
    failed = [
        TrialView(f"f{i}", a.parameters, a.labels, TrialCondition.FAILED, None)
        for i, a in enumerate(reply.assignments)
    ]
    after = suggest(spec, failed, 5, reply.state)
    assert [a.labels[BRACKET_LABEL] for a in after.assignments] == ["1"] * 5


def test_medianstop_stops_worse_than_median_after_start_step() -> None:
    settings = MedianStopSettings(min_trials_required=2, start_step=2)
    assert median_rule(settings, [[1.0, 3.0, 0.1]]) is None  # too few finished
    median = median_rule(settings, [[1.0, 3.0, 0.1], [2.0, 2.0], [9.0, 9.0]])
    assert median == 2.0  # averages of the first 2 reports: 2, 2, 9
    minimize = ObjectiveType.MINIMIZE
    assert should_stop(settings, minimize, [5.0], median) is None  # before start_step
    assert should_stop(settings, minimize, [1.0, 1.5], median) is None
    assert "objective 2.5 > median 2" in str(should_stop(settings, minimize, [1.0, 2.5], median))
    assert should_stop(settings, ObjectiveType.MAXIMIZE, [1.0, 1.5], median) is not None


def test_text_metrics_follow_katibs_parser() -> None:
    lines = [
        "2024-01-02T03:04:05Z loss=0.5",
        "epoch 2: loss = .25, accuracy=9.8e-01",
        "Train-loss=7",  # another metric's name containing 'loss'
        "nothing here",
        "loss=unavailable",
    ]
    reports = parse_text_lines(lines, ["loss", "accuracy"], [DEFAULT_STDOUT_FILTER])
    assert reports == {"loss": [0.5, 0.25], "accuracy": [0.98]}
    custom = parse_text_lines(
        ["{metricName: accuracy, metricValue: 0.9}"],
        ["accuracy"],
        [r"{metricName: ([\w|-]+), metricValue: ((-?\d+)(\.\d+)?)}"],
    )
    assert custom == {"accuracy": [0.9]}
    json_reports = parse_json_lines(
        ['{"loss": 0.4, "timestamp": 1.0}', "not json", '{"loss": "0.3"}'], ["loss"]
    )
    assert json_reports == {"loss": [0.4, 0.3]}
    assert metric_value([3.0, 1.0, 2.0], MetricStrategyType.MIN) == 1.0
    assert metric_value([3.0, 1.0, 2.0], MetricStrategyType.MAX) == 3.0
    assert metric_value([3.0, 1.0, 2.0], MetricStrategyType.LATEST) == 2.0
    assert metric_value([], MetricStrategyType.LATEST) is None
