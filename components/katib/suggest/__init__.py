"""Suggestion algorithms behind one function: `suggest(spec, trials, count, state) -> Reply`.

Which algorithm runs is the Experiment's `spec.algorithm`; its settings are validated by
`components.katib.settings`. The seed is the algorithm's `random_state` when given, else the
one the controller saved in the state when the experiment started, so every run is
reproducible from its record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from components.katib.settings import (
    AlgorithmName,
    BayesSettings,
    HyperbandSettings,
    SobolSettings,
    algorithm_settings,
)
from components.katib.spec import ExperimentSpec
from components.katib.suggest.base import Assignment, Reply, SuggestFn, TrialView, call_seed

__all__ = ["Assignment", "Reply", "SuggestFn", "TrialView", "call_seed", "suggest"]

DEFAULT_SEED = 0


def suggest(
    spec: ExperimentSpec, trials: Sequence[TrialView], count: int, state: Mapping[str, Any]
) -> Reply:
    """Up to `count` new assignments after `trials`, and the state to save with them."""
    name, settings = algorithm_settings(spec)
    given = getattr(settings, "random_state", None)
    seed = int(given if given is not None else state.get("seed", DEFAULT_SEED))
    if name is AlgorithmName.GRID:
        from components.katib.suggest.grid import grid_suggest

        return grid_suggest(spec, trials, count, state, seed)
    if name is AlgorithmName.SOBOL:
        from components.katib.suggest.sobol import sobol_suggest

        assert isinstance(settings, SobolSettings)
        return sobol_suggest(spec, trials, count, state, settings.random_state)
    if name is AlgorithmName.BAYESIAN_OPTIMIZATION:
        from components.katib.suggest.bayes import bayes_suggest

        assert isinstance(settings, BayesSettings)
        return bayes_suggest(spec, trials, count, state, settings, seed)
    if name is AlgorithmName.HYPERBAND:
        from components.katib.suggest.hyperband import hyperband_suggest

        assert isinstance(settings, HyperbandSettings)
        return hyperband_suggest(spec, trials, count, state, settings, seed)
    from components.katib.suggest.optuna_backend import optuna_suggest, sampler_factory

    return optuna_suggest(spec, trials, count, state, sampler_factory(name, settings), seed)
