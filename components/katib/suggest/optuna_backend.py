"""random, tpe, multivariate-tpe and cmaes through optuna's samplers, rebuilt from saved state.

Optuna samplers keep what they learn in their study (CMA-ES stores its optimizer in the trials'
system attributes). Each call rebuilds an in-memory study from the trials so far: their values
(a trial without an objective is FAIL, a running one RUNNING, so TPE's constant liar sees it)
and the system attributes saved when each was asked. The sampler is seeded with the experiment's
seed and the number of trials, so the same history always gives the same new assignments, and a
longer one never repeats a draw of a shorter one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.samplers import BaseSampler, CmaEsSampler, RandomSampler, TPESampler
from optuna.study import StudyDirection
from optuna.trial import TrialState, create_trial

from components.katib.errors import SuggestionError
from components.katib.settings import (
    AlgorithmName,
    CmaEsSettings,
    MultivariateTpeSettings,
    RestartStrategy,
    TpeSettings,
)
from components.katib.spec import ExperimentSpec, ObjectiveType, Parameter, ParameterType
from components.katib.suggest.base import Assignment, Reply, TrialView, call_seed
from components.katib.suggest.space import (
    format_value,
    from_quantile,
    is_log,
    is_normal,
    to_quantile,
    typed_value,
)

__all__ = ["distribution", "optuna_suggest", "sampler_factory"]

optuna.logging.set_verbosity(optuna.logging.ERROR)

SamplerFactory = Callable[[int], BaseSampler]


def distribution(p: Parameter) -> BaseDistribution:
    """The optuna distribution of a Katib parameter.

    A normal/logNormal parameter is searched as its quantile in [0, 1] (`space.from_quantile`
    maps it to a value), since optuna has no normal distribution and this keeps Katib's mu/sigma
    in one place for every sampler.
    """
    if is_normal(p):
        return FloatDistribution(0.0, 1.0)
    if p.parameter_type in (ParameterType.DISCRETE, ParameterType.CATEGORICAL):
        return CategoricalDistribution(p.choices)
    step = p.step
    if p.parameter_type is ParameterType.INT:
        return IntDistribution(int(p.low), int(p.high), log=is_log(p), step=int(step or 1))
    if step is not None and not is_log(p):
        high = p.low + step * math.floor((p.high - p.low) / step + 1e-9)
        return FloatDistribution(p.low, high, step=step)
    return FloatDistribution(p.low, p.high, log=is_log(p))


def sampler_factory(name: AlgorithmName, settings: object) -> SamplerFactory:
    """How to build the algorithm's sampler for one call, given that call's seed."""
    if name is AlgorithmName.RANDOM:
        return lambda seed: RandomSampler(seed=seed)
    if name is AlgorithmName.TPE:
        assert isinstance(settings, TpeSettings)
        gamma = settings.gamma

        def tpe(seed: int) -> BaseSampler:
            return TPESampler(
                seed=seed,
                multivariate=False,
                constant_liar=True,
                # Katib's tpe does not expose this; 5 random trials before modelling suits the
                # budgets of tens of trials Katib experiments have (bench/katib.py).
                n_startup_trials=5,
                n_ei_candidates=settings.n_EI_candidates or 24,
                prior_weight=settings.prior_weight,
                gamma=(lambda n: min(math.ceil(gamma * n), 25)) if gamma else None,
            )

        return tpe
    if name is AlgorithmName.MULTIVARIATE_TPE:
        assert isinstance(settings, MultivariateTpeSettings)
        return lambda seed: TPESampler(
            seed=seed,
            multivariate=True,
            constant_liar=True,
            n_startup_trials=10 if settings.n_startup_trials is None else settings.n_startup_trials,
            n_ei_candidates=settings.n_ei_candidates or 24,
        )
    if name is AlgorithmName.CMAES:
        assert isinstance(settings, CmaEsSettings)
        restart = (
            None
            if settings.restart_strategy is RestartStrategy.NONE
            else settings.restart_strategy.value
        )
        return lambda seed: CmaEsSampler(
            seed=seed,
            sigma0=settings.sigma,
            restart_strategy=restart,
            warn_independent_sampling=False,
            independent_sampler=RandomSampler(seed=seed),
        )
    raise AssertionError(f"{name} is not an optuna-backed algorithm")


def _trial_state(view: TrialView) -> TrialState:
    if not view.condition.is_completed:
        return TrialState.RUNNING
    if view.condition.has_observation and view.objective is not None:
        return TrialState.COMPLETE
    return TrialState.FAIL


def optuna_suggest(
    spec: ExperimentSpec,
    trials: Sequence[TrialView],
    count: int,
    state: Mapping[str, Any],
    factory: SamplerFactory,
    seed: int,
) -> Reply:
    """Ask the sampler for `count` assignments after telling it every trial so far."""
    asked: list[dict[str, Any]] = list(state.get("asked", []))
    if len(asked) != len(trials):
        raise SuggestionError(
            f"suggestion state records {len(asked)} asked trials but the experiment has "
            f"{len(trials)}; the state does not belong to these trials"
        )
    dists = {p.name: distribution(p) for p in spec.parameters}
    direction = (
        StudyDirection.MINIMIZE
        if spec.objective.type is ObjectiveType.MINIMIZE
        else StudyDirection.MAXIMIZE
    )
    study = optuna.create_study(direction=direction, sampler=factory(call_seed(seed, len(trials))))
    for view, record in zip(trials, asked):
        status = _trial_state(view)
        study.add_trial(
            create_trial(
                state=status,
                value=view.objective if status is TrialState.COMPLETE else None,
                params={p.name: _model_value(p, view.parameters[p.name]) for p in spec.parameters},
                distributions=dists,
                system_attrs=record.get("systemAttrs", {}),
            )
        )
    new: list[Assignment] = []
    for _ in range(count):
        trial = study.ask(dists)
        frozen = study.get_trials(deepcopy=False)[-1]
        attrs = json.loads(json.dumps(frozen.system_attrs, default=_not_json))
        asked.append({"systemAttrs": attrs})
        new.append(
            Assignment({p.name: _katib_value(p, trial.params[p.name]) for p in spec.parameters})
        )
    return Reply(new, {**state, "asked": asked})


def _model_value(p: Parameter, text: str) -> Any:
    """A recorded assignment in the sampler's space (a quantile for normal/logNormal)."""
    return to_quantile(p, text) if is_normal(p) else typed_value(p, text)


def _katib_value(p: Parameter, value: Any) -> str:
    """A sampler's value as the assignment string Katib records."""
    return from_quantile(p, float(value)) if is_normal(p) else format_value(p, value)


def _not_json(value: object) -> object:
    raise SuggestionError(f"sampler state holds a value that cannot be saved: {value!r}")
