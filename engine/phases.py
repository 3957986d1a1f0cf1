"""The one state machine: node phases, the transitions between them, and the derived run phase.

Phases are Argo's, so a user reading `kubepipe get` sees what `argo get` would show:
FAILED means the step's own code failed (non-zero exit, deadline, OOM); ERROR means the engine
or infrastructure failed it (a missing output file, an unresolvable reference, a launch
failure). Retries do not add a phase: each attempt is its own node under a Retry node, so every
node's phase only ever moves forward.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum


class NodePhase(str, Enum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ERROR = "Error"
    SKIPPED = "Skipped"  # its `when` was false
    OMITTED = "Omitted"  # its `depends` can no longer be met

    def __str__(self) -> str:
        return self.value

    @property
    def is_fulfilled(self) -> bool:
        """Argo's Fulfilled: nothing more will happen to this node."""
        return self in _FULFILLED

    @property
    def is_completed(self) -> bool:
        """Argo's Completed: the node ran (or tried to) and ended."""
        return self in _COMPLETED

    @property
    def is_failure(self) -> bool:
        return self in (NodePhase.FAILED, NodePhase.ERROR)

    @property
    def is_active(self) -> bool:
        return self in (NodePhase.PENDING, NodePhase.RUNNING)


_COMPLETED = frozenset({NodePhase.SUCCEEDED, NodePhase.FAILED, NodePhase.ERROR})
_FULFILLED = _COMPLETED | {NodePhase.SKIPPED, NodePhase.OMITTED}

TRANSITIONS: Mapping[NodePhase, frozenset[NodePhase]] = {
    NodePhase.PENDING: frozenset(
        {
            NodePhase.RUNNING,
            NodePhase.SUCCEEDED,
            NodePhase.FAILED,
            NodePhase.ERROR,
            NodePhase.SKIPPED,
            NodePhase.OMITTED,
        }
    ),
    NodePhase.RUNNING: frozenset({NodePhase.SUCCEEDED, NodePhase.FAILED, NodePhase.ERROR}),
    NodePhase.SUCCEEDED: frozenset(),
    NodePhase.FAILED: frozenset(),
    NodePhase.ERROR: frozenset(),
    NodePhase.SKIPPED: frozenset(),
    NodePhase.OMITTED: frozenset(),
}


def can_transition(frm: NodePhase, to: NodePhase) -> bool:
    return to in TRANSITIONS[frm]


class NodeType(str, Enum):
    """Argo's node types, so `get -o json` reads like `argo get -o json`."""

    POD = "Pod"
    DAG = "DAG"
    STEPS = "Steps"
    STEP_GROUP = "StepGroup"
    TASK_GROUP = "TaskGroup"
    RETRY = "Retry"
    SKIPPED = "Skipped"
    SUSPEND = "Suspend"
    CONTAINER = "Container"
    TRIAL = "Trial"  # a Katib trial under its Experiment's resource step (kubepipe's own)

    def __str__(self) -> str:
        return self.value


class RunPhase(str, Enum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ERROR = "Error"

    def __str__(self) -> str:
        return self.value

    @property
    def is_finished(self) -> bool:
        return self in (RunPhase.SUCCEEDED, RunPhase.FAILED, RunPhase.ERROR)


def workflow_status_of(entry: NodePhase) -> RunPhase:
    """What `{{workflow.status}}` says in an exit handler, given the entry node's phase."""
    if entry is NodePhase.FAILED:
        return RunPhase.FAILED
    if entry is NodePhase.ERROR:
        return RunPhase.ERROR
    if entry.is_fulfilled:
        return RunPhase.SUCCEEDED
    return RunPhase.RUNNING


def derive_run_phase(
    entry: NodePhase | None, on_exit: NodePhase | None, has_on_exit: bool
) -> RunPhase:
    """The run's phase from its entry node and exit handler, as Argo's operator derives it.

    A failed entry keeps the run Failed/Error whatever the exit handler does; a succeeded entry
    followed by a failed exit handler makes the run fail.
    """
    if entry is None:
        return RunPhase.PENDING
    if not entry.is_fulfilled:
        return RunPhase.RUNNING
    if has_on_exit and (on_exit is None or not on_exit.is_fulfilled):
        return RunPhase.RUNNING
    status = workflow_status_of(entry)
    if status is RunPhase.SUCCEEDED and on_exit is not None and on_exit.is_failure:
        return RunPhase.FAILED if on_exit is NodePhase.FAILED else RunPhase.ERROR
    return status
