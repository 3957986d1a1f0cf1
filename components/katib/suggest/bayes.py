"""bayesianoptimization: a Gaussian-process surrogate (the `bayesian-optimization` library).

Katib's service wraps scikit-optimize, which is archived; `bayes_opt` keeps the same method
(GP + acquisition). It searches a unit box, one axis per parameter, read through
suggest/space.py `from_unit` (as sobol and the initial random draws are) and written back
through `to_unit`: logUniform is searched in log space, normal/logNormal through Katib's
quantile, and each int, stepped double or categorical/discrete value owns a cell of its axis.
So every parameter kind is searchable (skopt, Katib's service, also takes categorical), and the
kernel sees every axis on one scale. The optimizer is rebuilt each call from the trials with an
objective (bayes_opt maximises, so a minimised objective is negated); the first
`n_initial_points` assignments are random draws; trials still running and the assignments of
this call are registered with a constant-liar value so parallel suggestions spread out instead
of repeating.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from bayes_opt import BayesianOptimization, acquisition
from sklearn.gaussian_process.kernels import Matern  # type: ignore[import-untyped]

from components.katib.settings import Acquisition, BayesSettings
from components.katib.spec import ExperimentSpec, ObjectiveType
from components.katib.suggest.base import Assignment, Reply, TrialView, call_seed
from components.katib.suggest.space import from_unit, to_unit

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


def _kernel() -> Matern:
    """bayes_opt's Matern 5/2 with its length scale held to [0.01, 100] box widths, as skopt
    bounds it in its normalised space. With sklearn's default floor, 1e-5, some fits in the unit
    box collapsed to a white-noise model once exploitation clustered trials, making the next
    suggestion a blind one (Branin's median regret in bench/katib.py tripled); a length scale
    under a hundredth of the box is finer than a trial budget can resolve anyway."""
    return Matern(nu=2.5, length_scale_bounds=(0.01, 100.0))


def _to_box(spec: ExperimentSpec, params: Mapping[str, str]) -> dict[str, float]:
    return {p.name: to_unit(p, params[p.name]) for p in spec.parameters}


def _from_box(spec: ExperimentSpec, point: Mapping[str, Any]) -> dict[str, str]:
    return {p.name: from_unit(p, float(point[p.name])) for p in spec.parameters}


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
    bounds = {p.name: (0.0, 1.0) for p in spec.parameters}
    call = call_seed(seed, len(trials), "gp")
    optimizer = BayesianOptimization(
        f=None,
        pbounds=bounds,
        acquisition_function=_acquisition(settings),
        random_state=call % (2**31),
        verbose=0,
        allow_duplicate_points=True,
    )
    optimizer.set_gp_params(kernel=_kernel())
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
