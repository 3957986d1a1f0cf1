"""A Katib experiment step's trials for the dashboard: the table's rows and the plots' axes.

Rows come from the experiment step's `Trial` child nodes (so each row links to the node with its
logs), in creation order; the objective's name and direction, the search space and the best trial
come from the Experiment object the step keeps (its `spec` and Katib-shaped `status`), so the
highlighted row is exactly `status.currentOptimalTrial`, the trial the step's outputs report.
"""

from __future__ import annotations

import math
from typing import Any

from engine.phases import NodePhase, NodeType
from engine.state import NodeRecord, RunState
from server.errors import NotFound
from server.schemas import AxisScale, TrialObjective, TrialParameter, TrialRow, TrialsOut

__all__ = ["experiment_trials"]

_NUMERIC_TYPES = {"double", "int"}
# Katib draws these in log space, so the trials spread evenly over decades, not over the range.
_LOG_DISTRIBUTIONS = {"logUniform", "logNormal"}
# A trial node that has not finished yet carries no Katib condition in its outputs.
_UNFINISHED_STATES = {NodePhase.PENDING: "Created", NodePhase.RUNNING: "Running"}


def _float(value: Any) -> float | None:
    """A finite float, or None for anything that is not one (a missing or unparsable value)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _experiment(node: NodeRecord) -> dict[str, Any] | None:
    """The Katib Experiment object a resource step keeps, or None when the step is no experiment."""
    obj = node.extra.get("resource")
    if not isinstance(obj, dict) or obj.get("kind") != "Experiment":
        return None
    if not str(obj.get("apiVersion", "")).startswith("kubeflow.org/"):
        return None
    return obj


def _parameter(raw: dict[str, Any]) -> TrialParameter:
    """A search-space entry; a discrete list of numbers plots on an axis like double/int."""
    kind = str(raw.get("parameterType") or "")
    space = raw.get("feasibleSpace") or {}
    values = [str(v) for v in space.get("list") or []]
    numeric = kind in _NUMERIC_TYPES or (
        kind == "discrete" and bool(values) and all(_float(v) is not None for v in values)
    )
    low, high = _float(space.get("min")), _float(space.get("max"))
    if numeric and values:
        numbers = [n for n in (_float(v) for v in values) if n is not None]
        low, high = min(numbers), max(numbers)
    # A log axis cannot reach 0 or below; Katib refuses such a space, but a stored spec may not.
    log = (
        numeric and space.get("distribution") in _LOG_DISTRIBUTIONS and low is not None and low > 0
    )
    return TrialParameter(
        name=str(raw.get("name")),
        type=kind,
        numeric=numeric,
        min=low,
        max=high,
        values=values,
        scale=AxisScale.LOG if log else AxisScale.LINEAR,
    )


def _row(index: int, trial: NodeRecord, best: str | None) -> TrialRow:
    """One trial node as a row: outputs (set when the trial ends) over inputs (set at creation)."""
    outputs = dict((trial.outputs or {}).get("parameters") or {})
    condition = outputs.pop("condition", None)
    objective = _float(outputs.pop("objective", None))
    parameters = {k: str(v) for k, v in ((trial.inputs or {}).get("parameters") or {}).items()}
    parameters.update({k: str(v) for k, v in outputs.items()})
    state = condition or _UNFINISHED_STATES.get(trial.phase, trial.phase.value)
    return TrialRow(
        index=index,
        name=trial.display_name,
        node_id=trial.id,
        state=str(state),
        phase=trial.phase.value,
        parameters=parameters,
        objective=objective,
        best=best is not None and trial.display_name == best,
    )


def _condition(status: dict[str, Any]) -> str | None:
    """The reason of the Experiment's latest true condition (Running, or why it ended)."""
    current = [c for c in status.get("conditions") or [] if c.get("status") == "True"]
    return str(current[-1].get("reason")) if current else None


def experiment_trials(state: RunState, node_id: str) -> TrialsOut:
    """The trials of the experiment step `node_id`, or NotFound when the node is not one."""
    node = state.nodes.get(node_id)
    if node is None:
        raise NotFound(f"run {state.run.id} has no node {node_id!r}", field="node_id")
    obj = _experiment(node)
    if obj is None:
        raise NotFound(
            f"node {node_id!r} of run {state.run.id} is not a Katib experiment step",
            field="node_id",
        )
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    objective = spec.get("objective") or {}
    best = (status.get("currentOptimalTrial") or {}).get("bestTrialName") or None
    trials = sorted(
        (
            state.nodes[c]
            for c in node.children
            if c in state.nodes and state.nodes[c].type is NodeType.TRIAL
        ),
        key=lambda n: n.seq,
    )
    return TrialsOut(
        node_id=node.id,
        experiment=str((obj.get("metadata") or {}).get("name") or node.display_name),
        algorithm=str((spec.get("algorithm") or {}).get("algorithmName") or ""),
        condition=_condition(status),
        objective=TrialObjective(
            name=str(objective.get("objectiveMetricName") or "objective"),
            type=str(objective.get("type") or "minimize"),
            goal=_float(objective.get("goal")),
        ),
        parameters=[_parameter(p) for p in spec.get("parameters") or []],
        best_trial=best,
        trials=[_row(i, t, best) for i, t in enumerate(trials)],
    )
