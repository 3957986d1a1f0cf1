"""sobol: a Sobol quasi-random sequence over the search space (scipy.stats.qmc).

The n-th assignment is the n-th point of the sequence, so the state is just how many points
were drawn; a restart fast-forwards the generator instead of replaying a study. Without a
random_state the sequence is unscrambled (Katib's goptuna service takes no settings), with one it
is scrambled by that seed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from scipy.stats import qmc  # type: ignore[import-untyped]

from components.katib.spec import ExperimentSpec
from components.katib.suggest.base import Assignment, Reply, TrialView
from components.katib.suggest.space import from_unit

__all__ = ["sobol_suggest"]


def sobol_suggest(
    spec: ExperimentSpec,
    trials: Sequence[TrialView],
    count: int,
    state: Mapping[str, Any],
    seed: int | None,
) -> Reply:
    drawn = int(state.get("drawn", 0))
    engine = qmc.Sobol(d=len(spec.parameters), scramble=seed is not None, seed=seed)
    if drawn:
        engine.fast_forward(drawn)
    points = engine.random(count) if count else []
    new = [
        Assignment({p.name: from_unit(p, float(u)) for p, u in zip(spec.parameters, point)})
        for point in points
    ]
    return Reply(new, {**state, "drawn": drawn + len(new)})
