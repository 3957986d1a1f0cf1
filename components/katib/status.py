"""The Experiment's `status` in Katib's shape, and the pure decision of when it ends.

`decide_end` checks Katib's end conditions in Katib's order (goal, max failed, max trials,
suggestion end); `trial_counts` and `optimal_trial` fill the fields `kubectl get experiment -o
yaml` shows (`trials`, `trialsSucceeded`, ..., `succeededTrialList`, ..., `currentOptimalTrial`),
zero counts and empty lists left out as Katib's `omitempty` does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from components.katib.conditions import EndReason, TrialCondition
from components.katib.spec import ExperimentSpec, ObjectiveType

__all__ = ["TrialSummary", "best_trial", "decide_end", "optimal_trial", "trial_counts"]


@dataclass(frozen=True)
class TrialSummary:
    """One trial as the experiment status needs it."""

    name: str
    condition: TrialCondition
    parameters: dict[str, str]
    objective: float | None
    observation: dict[str, Any] | None


def best_trial(direction: ObjectiveType, trials: Sequence[TrialSummary]) -> TrialSummary | None:
    """The first trial with the best objective among those with an observation."""
    best: TrialSummary | None = None
    for t in trials:
        if not t.condition.has_observation or t.objective is None:
            continue
        if best is None or direction.better(t.objective, best.objective or 0.0):
            best = t
    return best


def decide_end(
    spec: ExperimentSpec,
    trials: Sequence[TrialSummary],
    suggestions_exhausted: bool,
) -> EndReason | None:
    """Why the experiment ends now, checked in Katib's order, or None to go on."""
    counts = Counter(t.condition for t in trials)
    goal = spec.objective.goal
    best = best_trial(spec.objective.type, trials)
    if goal is not None and best is not None and best.objective is not None:
        if not spec.objective.type.better(goal, best.objective):
            return EndReason.GOAL_REACHED
    failed = sum(n for c, n in counts.items() if c.counts_as_failed)
    if spec.max_failed_trial_count is not None and failed > 0:
        if failed >= max(spec.max_failed_trial_count, 1):
            return EndReason.MAX_FAILED
    completed = sum(n for c, n in counts.items() if c.is_completed)
    if spec.max_trial_count is not None and completed >= spec.max_trial_count:
        return EndReason.MAX_TRIALS
    active = sum(n for c, n in counts.items() if not c.is_completed)
    if suggestions_exhausted and active == 0:
        return EndReason.SUGGESTION_END
    return None


def trial_counts(trials: Sequence[TrialSummary]) -> dict[str, Any]:
    """Katib's per-state counters and name lists (empty ones omitted)."""
    out: dict[str, Any] = {}
    if trials:
        out["trials"] = len(trials)
    for condition in TrialCondition:
        names = [t.name for t in trials if t.condition is condition]
        if names:
            out[condition.status_field] = len(names)
            out[condition.list_field] = names
    return out


def optimal_trial(direction: ObjectiveType, trials: Sequence[TrialSummary]) -> dict[str, Any]:
    """`currentOptimalTrial`: the best trial's name, assignments and observation."""
    best = best_trial(direction, trials)
    if best is None:
        return {"bestTrialName": "", "observation": {"metrics": None}, "parameterAssignments": None}
    return {
        "bestTrialName": best.name,
        "parameterAssignments": [{"name": k, "value": v} for k, v in best.parameters.items()],
        "observation": best.observation or {"metrics": None},
    }
