"""grid: every combination of the parameters' values, each exactly once.

The combinations are enumerated with `itertools.product` and visited in an order shuffled by
the seed (Katib's optuna GridSampler also draws unvisited grid points at random); the state is
only how many have been handed out, so a restart continues with the next one.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping, Sequence
from typing import Any

from components.katib.spec import ExperimentSpec
from components.katib.suggest.base import Assignment, Reply, TrialView
from components.katib.suggest.space import grid_values

__all__ = ["grid_size", "grid_suggest"]


def grid_size(spec: ExperimentSpec) -> int:
    size = 1
    for p in spec.parameters:
        size *= len(grid_values(p))
    return size


def grid_suggest(
    spec: ExperimentSpec,
    trials: Sequence[TrialView],
    count: int,
    state: Mapping[str, Any],
    seed: int,
) -> Reply:
    values = [grid_values(p) for p in spec.parameters]
    total = grid_size(spec)
    order = list(range(total))
    random.Random(seed).shuffle(order)
    start = int(state.get("next", 0))
    chosen = order[start : start + count]
    new = []
    for flat in chosen:
        combo = []
        for options in reversed(values):
            flat, index = divmod(flat, len(options))
            combo.append(options[index])
        combo.reverse()
        new.append(Assignment(dict(zip((p.name for p in spec.parameters), combo))))
    after = start + len(chosen)
    return Reply(new, {**state, "next": after}, exhausted=after >= total)


def all_combinations(spec: ExperimentSpec) -> list[tuple[str, ...]]:
    """Every combination, in product order (for tests and the grid-size check)."""
    return list(itertools.product(*(grid_values(p) for p in spec.parameters)))
