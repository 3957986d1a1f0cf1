"""Retrying a finished run that failed, in place, as `argo retry` does.

What succeeded stays, with its outputs; what failed runs again. Walking down from the run's
root: a Succeeded or Skipped node keeps its whole subtree; a failed DAG, steps or retry node
that got as far as starting children goes back to Running (its walk decides again what to run);
any other failed, errored or omitted node is forgotten with everything under it, together with
its logs, artifacts and work directory, so the walk creates it afresh. The exit handler is
forgotten too and runs again when the run ends, as in Argo.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from artifact_store import ArtifactStore
from engine.errors import KubepipeError
from engine.metadata.store import MetadataStore
from engine.phases import NodePhase, NodeType, RunPhase
from engine.state import NodeRecord, RunRecord, RunState

__all__ = ["retry_run"]

_CONTAINERS = frozenset(
    {NodeType.DAG, NodeType.STEPS, NodeType.STEP_GROUP, NodeType.TASK_GROUP, NodeType.RETRY}
)
_KEPT = frozenset({NodePhase.SUCCEEDED, NodePhase.SKIPPED})
_RETRYABLE = frozenset({RunPhase.FAILED, RunPhase.ERROR})


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
    run = state.run
    if run.exit_node_id and run.exit_node_id in state.nodes:
        state.remove(state.nodes[run.exit_node_id])
    run.exit_node_id = None
    entry = state.nodes.get(run.entry_node_id) if run.entry_node_id else None
    if entry is not None:
        _reset(state, entry)
    if entry is not None and entry.id in state.removed:
        run.entry_node_id = None
    run.phase = RunPhase.PENDING
    run.finished_at = None
    run.message = ""
    run.outputs = {}
    state.run_dirty = True
    forgotten = sorted(state.removed)
    metadata.reopen_run(state)
    for node_id in forgotten:  # after the commit: a crash before it loses nothing
        artifacts.delete_prefix(f"{run.id}/{node_id}/")
        shutil.rmtree(work_root / run.id / node_id, ignore_errors=True)
    return run


def _reset(state: RunState, node: NodeRecord) -> None:
    if node.phase in _KEPT:
        return
    if node.type in _CONTAINERS and node.children:
        state.reopen(node, "retried")
        for child_id in list(node.children):
            if child_id in state.nodes:
                _reset(state, state.nodes[child_id])
        return
    state.remove(node)
