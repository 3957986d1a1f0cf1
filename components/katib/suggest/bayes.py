"""bayesianoptimization: a Gaussian-process surrogate (the `bayesian-optimization` library).

Katib's service wraps scikit-optimize, which is archived; `bayes_opt` keeps the same method
(GP + acquisition). The optimizer is rebuilt each call from the trials with an objective
(bayes_opt maximises, so a minimised objective is negated); the first `n_initial_points`
assignments are random draws; trials still running and the assignments of this call are
registered with a constant-liar value so parallel suggestions spread out instead of repeating.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from bayes_opt import BayesianOptimization, acquisition

from components.katib.settings import Acquisition, BayesSettings
from components.katib.spec import ExperimentSpec, ObjectiveType, ParameterType
from components.katib.suggest.base import Assignment, Reply, TrialView, call_seed
from components.katib.suggest.space import format_value, from_unit, is_log

__all__ = ["bayes_suggest"]


def _acquisition(settings: BayesSettings) -> acquisition.AcquisitionFunction:
    kind = settings.acq_func
    if kind is Acquisition.EI:
        return _Budgeted.of(acquisition.ExpectedImprovement, xi=0.01)
    if kind is Acquisition.PI:
        return _Budgeted.of(acquisition.ProbabilityOfImprovement, xi=0.01)
    if kind is Acquisition.LCB:
        return _Budgeted.of(acquisition.UpperConfidenceBound, kappa=1.96)
    return _Budgeted.of(
        acquisition.GPHedge,
        [
            _Budgeted.of(acquisition.ExpectedImprovement, xi=0.01),
            _Budgeted.of(acquisition.ProbabilityOfImprovement, xi=0.01),
            _Budgeted.of(acquisition.UpperConfidenceBound, kappa=1.96),
        ],
    )


class _Budgeted:
    """Build an acquisition whose maximisation uses fewer random and L-BFGS-B starts.

    bayes_opt's defaults (10,000 random points, 10 L-BFGS-B starts) cost about two seconds per
    suggestion; a trial's own run dominates that in practice, but the budget keeps the engine's
    tick short. The search is still seeded by the optimizer's random_state.
    """

    N_RANDOM = 1000
    N_SMART = 2

    @staticmethod
    def of(kind: type[Any], *args: Any, **kwargs: Any) -> acquisition.AcquisitionFunction:
        class Budgeted(kind):  # type: ignore[misc, valid-type]
            def suggest(self, *a: Any, **kw: Any) -> Any:
                kw["n_random"] = min(kw.get("n_random", _Budgeted.N_RANDOM), _Budgeted.N_RANDOM)
                kw["n_smart"] = min(kw.get("n_smart", _Budgeted.N_SMART), _Budgeted.N_SMART)
                return super().suggest(*a, **kw)

        return Budgeted(*args, **kwargs)  # type: ignore[no-any-return]


def _to_box(spec: ExperimentSpec, params: Mapping[str, str]) -> dict[str, float]:
    """A point in the optimizer's box: log-scaled parameters are searched in log space."""
    out = {}
    for p in spec.parameters:
        value = float(params[p.name])
        out[p.name] = math.log(value) if is_log(p) else value
    return out


def _from_box(spec: ExperimentSpec, point: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    for p in spec.parameters:
        value = float(point[p.name])
        value = math.exp(value) if is_log(p) else value
        value = min(max(value, p.low), p.high)
        if p.parameter_type is ParameterType.INT or p.step is not None:
            step = p.step or 1
            value = p.low + step * round((value - p.low) / step)
        out[p.name] = format_value(p, value)
    return out


def bayes_suggest(
    spec: ExperimentSpec,
    trials: Sequence[TrialView],
    count: int,
    state: Mapping[str, Any],
    settings: BayesSettings,
    seed: int,
) -> Reply:
    sign = -1.0 if spec.objective.type is ObjectiveType.MINIMIZE else 1.0
    done = [t for t in trials if t.condition.has_observation and t.objective is not None]
    rng = np.random.default_rng(call_seed(seed, len(trials)))
    new: list[Assignment] = []
    if len(done) < settings.n_initial_points:
        initial = min(count, settings.n_initial_points - len(done))
        for _ in range(initial):
            new.append(
                Assignment({p.name: from_unit(p, float(rng.random())) for p in spec.parameters})
            )
        if len(new) == count:
            return Reply(new, dict(state))
    bounds = {
        p.name: (math.log(p.low), math.log(p.high)) if is_log(p) else (p.low, p.high)
        for p in spec.parameters
    }
    call = call_seed(seed, len(trials), "gp")
    optimizer = BayesianOptimization(
        f=None,
        pbounds=bounds,
        acquisition_function=_acquisition(settings),
        random_state=call % (2**31),
        verbose=0,
        allow_duplicate_points=True,
    )
    values = [sign * float(t.objective) for t in done if t.objective is not None]
    for t in done:
        assert t.objective is not None
        optimizer.register(_to_box(spec, t.parameters), sign * t.objective)
    liar = float(np.mean(values)) if values else 0.0
    pending = [t for t in trials if not t.condition.is_completed]
    for t in pending:
        optimizer.register(_to_box(spec, t.parameters), liar)
    for a in new:
        optimizer.register(_to_box(spec, a.parameters), liar)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        while len(new) < count:
            point = optimizer.suggest()
            assignment = Assignment(_from_box(spec, point))
            new.append(assignment)
            optimizer.register(_to_box(spec, assignment.parameters), liar)
    return Reply(new, dict(state))
