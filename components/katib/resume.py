"""Resuming a finished Experiment with a larger `maxTrialCount` (Katib's `resumePolicy`).

Katib restarts an Experiment only when it Succeeded with reason ExperimentMaxTrialsReached
(`IsCompletedExperimentRestartable`) and its resumePolicy kept the suggestion state
(`LongRunning` or `FromVolume`); with `Never` the suggestion is deleted and it cannot resume.
Here the suggestion state and every trial live on the experiment's node, so resuming is: raise
`spec.maxTrialCount` in the stored object, mark it Restarting/Running as Katib does, and send the
node back to Running in place (`engine.retry.reopen_step`); the controller then continues from
the saved state, which never repeats an assignment, until the new count is reached.
"""

from __future__ import annotations

import copy
from typing import Any

from components.katib.conditions import EndReason
from components.katib.errors import ExperimentSpecError
from components.katib.spec import Experiment, ResumePolicy, parse_experiment
from components.katib.support import check_runnable
from engine.controllers.job import k8s_time
from engine.errors import KubepipeError
from engine.state import NodeRecord, RunState

__all__ = ["check_resumable", "experiment_nodes", "reopen_experiment"]


def experiment_nodes(state: RunState) -> list[NodeRecord]:
    """The run's Katib Experiment steps (resource nodes run by the local controller)."""
    return [
        n
        for n in sorted(state.nodes.values(), key=lambda n: n.seq)
        if "katib" in n.extra and (n.extra.get("resource") or {}).get("kind") == "Experiment"
    ]


def check_resumable(node: NodeRecord, max_trial_count: int) -> Experiment:
    """The experiment as it will resume; raises naming the field and the fix when it cannot."""
    obj = node.extra.get("resource")
    if obj is None or "katib" not in node.extra:
        raise KubepipeError(f"step {node.name} is not a Katib Experiment")
    exp = Experiment.model_validate(obj)
    spec = exp.spec
    if spec.resume_policy is ResumePolicy.NEVER:
        raise ExperimentSpecError(
            "resumePolicy is Never, so the experiment's suggestion state was not kept for a "
            "restart (as in Katib); set spec.resumePolicy: LongRunning or FromVolume in the "
            "manifest and run the experiment again to be able to resume it",
            "spec.resumePolicy",
        )
    ended = [
        c
        for c in (obj.get("status") or {}).get("conditions") or []
        if c.get("type") in ("Succeeded", "Failed") and c.get("status") == "True"
    ]
    reason = ended[0].get("reason") if ended else None
    if reason != EndReason.MAX_TRIALS.value:
        raise KubepipeError(
            f"experiment {exp.name} ended "
            + (f"with reason {reason}" if reason else "without finishing")
            + f"; only an experiment that ended with {EndReason.MAX_TRIALS.value} can be "
            "resumed with a larger maxTrialCount (as in Katib)"
        )
    if node.extra["katib"].get("exhausted"):
        raise KubepipeError(
            f"experiment {exp.name}: its algorithm has no more suggestions to give, so a larger "
            "maxTrialCount would add no trial"
        )
    current = spec.max_trial_count or 0
    if max_trial_count <= current:
        raise ExperimentSpecError(
            f"--max-trial-count {max_trial_count} must be larger than the current "
            f"{current} to add trials",
            "spec.maxTrialCount",
        )
    raised = copy.deepcopy(obj)
    raised["spec"]["maxTrialCount"] = max_trial_count
    resumed = parse_experiment(raised)
    check_runnable(resumed)  # e.g. a grid smaller than the new count
    return resumed


def reopen_experiment(state: RunState, node: NodeRecord, max_trial_count: int, now: float) -> None:
    """Raise maxTrialCount on the stored Experiment and send its step back to Running.

    The callback `engine.retry.reopen_step` hands the step to: the status keeps every trial and
    the optimum; the end condition is turned off and Restarting/Running recorded as Katib does.
    """
    exp = check_resumable(node, max_trial_count)
    obj: dict[str, Any] = node.extra["resource"]
    old = exp.spec.max_trial_count
    obj["spec"]["maxTrialCount"] = max_trial_count
    stamp = k8s_time(now)
    status = obj["status"]
    status.pop("completionTime", None)
    conditions = [c for c in status["conditions"] if c.get("type") != "Restarting"]
    for cond in conditions:
        if cond.get("type") in ("Succeeded", "Failed"):
            cond.update(status="False", lastUpdateTime=stamp, lastTransitionTime=stamp)
        if cond.get("type") == "Running":
            cond.update(status="True", lastUpdateTime=stamp, lastTransitionTime=stamp)
    conditions.append(
        {
            "type": "Restarting",
            "status": "True",
            "reason": "ExperimentRestarting",
            "message": f"Experiment is restarted: maxTrialCount {old} -> {max_trial_count}",
            "lastUpdateTime": stamp,
            "lastTransitionTime": stamp,
        }
    )
    status["conditions"] = conditions
    node.extra["katib"]["stopping"] = None
    node.extra.pop("verdict", None)
    node.outputs = {}
    state.reopen(node, f"katib resume: maxTrialCount {old} -> {max_trial_count}")
