"""Retrying a finished run that failed, in place, as `argo retry` does.

What succeeded stays, with its outputs; what failed runs again. Walking down from the run's
root: a Succeeded or Skipped node keeps its whole subtree; a failed DAG, steps or retry node
that got as far as starting children goes back to Running (its walk decides again what to run);
any other failed, errored or omitted node is forgotten with everything under it, together with
its logs, artifacts and work directory, so the walk creates it afresh. The exit handler is
forgotten too and runs again when the run ends, as in Argo.

`reopen_step` is the same machinery aimed at one Succeeded step (`kubepipe katib resume`): the
containers above it go back to Running, the step is handed to its owner to reopen in place, and
every node that started after the step finished (it may have read the step's outputs) is
forgotten; nodes that started before cannot depend on it and are kept.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from artifact_store import ArtifactStore
from engine.errors import KubepipeError
from engine.metadata.store import MetadataStore
from engine.phases import NodePhase, NodeType, RunPhase
from engine.state import NodeRecord, RunRecord, RunState

__all__ = ["reopen_step", "retry_run"]

_CONTAINERS = frozenset(
    {NodeType.DAG, NodeType.STEPS, NodeType.STEP_GROUP, NodeType.TASK_GROUP, NodeType.RETRY}
)
_KEPT = frozenset({NodePhase.SUCCEEDED, NodePhase.SKIPPED})
_RETRYABLE = frozenset({RunPhase.FAILED, RunPhase.ERROR})
_FINISHED = _RETRYABLE | {RunPhase.SUCCEEDED}


def retry_run(
    metadata: MetadataStore, artifacts: ArtifactStore, work_root: Path, run_id: str
) -> RunRecord:
    """Reset the failed part of a finished run and queue it again; returns the queued run."""
    ref = metadata.resolve_run(run_id)
    if ref.phase not in _RETRYABLE:
        raise KubepipeError(
            f"run {ref.name} is {ref.phase.value}: only a Failed or Error run can be retried "
            "(stop a running one first with `kubepipe stop`)"
        )
    state = metadata.load_state(ref.id)
    _reset_run(state, frozenset(), None)
    return _requeue(metadata, artifacts, work_root, state, ref.phase)


def reopen_step(
    metadata: MetadataStore,
    artifacts: ArtifactStore,
    work_root: Path,
    run_id: str,
    node_id: str,
    reopen: Callable[[RunState, NodeRecord], None],
) -> RunRecord:
    """Run a finished run again from its Succeeded step `node_id`, which `reopen` restarts.

    `reopen(state, node)` owns the step's own record (it must send it back to Running with
    `RunState.reopen` and rewrite whatever its controller keeps); this function does the rest
    as `retry_run` does, and also retries any failed step elsewhere in the run.
    """
    ref = metadata.resolve_run(run_id)
    if ref.phase not in _FINISHED:
        raise KubepipeError(
            f"run {ref.name} is {ref.phase.value}: only a finished run can be resumed "
            "(wait for it to end, or stop it with `kubepipe stop`)"
        )
    state = metadata.load_state(ref.id)
    node = state.nodes.get(node_id)
    if node is None or node.phase is not NodePhase.SUCCEEDED or node.finished_at is None:
        raise KubepipeError(f"step {node_id} of run {ref.name} is not a Succeeded step")
    path: set[str] = set()
    up = state.nodes.get(node.parent_id) if node.parent_id else None
    while up is not None:
        path.add(up.id)
        up = state.nodes.get(up.parent_id) if up.parent_id else None
    _reset_run(state, frozenset(path), node.finished_at)
    reopen(state, node)
    if node.phase is not NodePhase.RUNNING:
        raise KubepipeError(f"step {node.name} was not reopened (still {node.phase.value})")
    return _requeue(metadata, artifacts, work_root, state, ref.phase)


def _reset_run(state: RunState, path: frozenset[str], after: float | None) -> None:
    run = state.run
    if run.exit_node_id and run.exit_node_id in state.nodes:
        state.remove(state.nodes[run.exit_node_id])
    run.exit_node_id = None
    entry = state.nodes.get(run.entry_node_id) if run.entry_node_id else None
    if entry is not None:
        _reset(state, entry, path, after)
    if entry is not None and entry.id in state.removed:
        run.entry_node_id = None


def _requeue(
    metadata: MetadataStore,
    artifacts: ArtifactStore,
    work_root: Path,
    state: RunState,
    was: RunPhase,
) -> RunRecord:
    run = state.run
    run.phase = RunPhase.PENDING
    run.finished_at = None
    run.message = ""
    run.outputs = {}
    state.run_dirty = True
    forgotten = sorted(state.removed)
    metadata.reopen_run(state, was)
    for node_id in forgotten:  # after the commit: a crash before it loses nothing
        artifacts.delete_prefix(f"{run.id}/{node_id}/")
        shutil.rmtree(work_root / run.id / node_id, ignore_errors=True)
    return run


def _reset(
    state: RunState,
    node: NodeRecord,
    path: frozenset[str] = frozenset(),
    after: float | None = None,
) -> None:
    if node.id in path:  # a container above the reopened step: its walk goes on
        if node.phase is not NodePhase.RUNNING:
            state.reopen(node, "reopened")
    elif after is not None and node.started_at is not None and node.started_at >= after:
        state.remove(node)  # started after the reopened step ended: may have used its outputs
        return
    elif node.phase in _KEPT:
        return
    elif node.type in _CONTAINERS and node.children:
        state.reopen(node, "retried")
    else:
        state.remove(node)
        return
    for child_id in list(node.children):
        if child_id in state.nodes:
            _reset(state, state.nodes[child_id], path, after)
