"""Deleting runs: their rows, logs and artifacts, and the retention policy that picks old runs.

An artifact of a deleted run survives while another run still points at it: a step served from
the cache keeps the producing run's artifact keys in its own outputs, so those keys are kept.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from artifact_store import ArtifactStore, ArtifactStoreError
from engine.errors import KubepipeError
from engine.metadata.store import MetadataStore, RunFilter


@dataclass(frozen=True)
class Deleted:
    run_id: str
    objects_removed: int
    objects_kept: int


def delete_run(metadata: MetadataStore, store: ArtifactStore, run_ref: str) -> Deleted:
    run = metadata.resolve_run(run_ref)
    if not run.phase.is_finished:
        raise KubepipeError(
            f"run {run.id} is {run.phase.value}; stop it first (`kubepipe stop {run.id}`)"
        )
    kept = metadata.artifact_keys_reused_from(run.id)
    removed = 0
    keys = {store.key_from_uri(a.uri) for a in metadata.artifacts(run.id)}
    keys |= {store.key_from_uri(log.uri) for log in metadata.logs(run.id)}
    for key in sorted(keys - kept):
        try:
            store.delete(key)
            removed += 1
        except ArtifactStoreError as exc:
            raise KubepipeError(f"could not delete artifact {key} of run {run.id}: {exc}") from None
    metadata.delete_run(run.id)
    return Deleted(run.id, removed, len(keys & kept))


def expired_runs(
    metadata: MetadataStore,
    *,
    keep_last: int | None,
    older_than: float | None,
    now: float | None = None,
) -> list[str]:
    """Finished runs beyond the newest `keep_last`, or finished more than `older_than` seconds ago."""
    now = time.time() if now is None else now
    finished = [r for r in metadata.list_runs(RunFilter(limit=1_000_000)) if r.phase.is_finished]
    doomed: set[str] = set()
    if keep_last is not None:
        doomed |= {r.id for r in finished[keep_last:]}
    if older_than is not None:
        doomed |= {
            r.id for r in finished if r.finished_at is not None and now - r.finished_at > older_than
        }
    return [r.id for r in finished if r.id in doomed]
