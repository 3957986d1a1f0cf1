"""An engine keeps its lease while its loop is busy, and gives a run up when it loses it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from engine_support import script

from artifact_store import LocalArtifactStore
from engine.errors import RunClaimed
from engine.executor import Engine
from engine.loader import as_workflow, load_manifest
from engine.metadata.store import MetadataStore
from engine.runners.fake import FakeRunner
from engine.state import RunState

WORKFLOW = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: lease}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: a, template: say}
    - - {name: b, template: say}
  - name: say
    container: {image: alpine, command: [echo, hi]}
"""
LEASE = 0.3


def _engine(tmp_path: Path, metadata: MetadataStore, owner: str) -> Engine:
    return Engine(
        metadata,
        LocalArtifactStore(tmp_path / "artifacts"),
        FakeRunner(script({})),
        work_root=tmp_path / "work",
        poll_interval=0.01,
        owner=owner,
        lease_seconds=LEASE,
    )


def test_a_busy_engine_keeps_its_run(tmp_path: Path) -> None:
    """A loop blocked for several leases (a long upload) is not mistaken for a dead engine."""
    metadata = MetadataStore(f"sqlite:///{tmp_path / 'kp.db'}")
    engine = _engine(tmp_path, metadata, "busy")
    run = engine.submit(as_workflow(load_manifest(WORKFLOW)[0]), queue=True)
    rival_won: list[bool] = []

    def busy(state: RunState) -> None:
        if rival_won:
            return
        deadline = time.monotonic() + 4 * LEASE
        while time.monotonic() < deadline:  # blocked, as in a long artifact upload
            rival_won.append(metadata.claim_run(run.id, "rival", LEASE))
            time.sleep(LEASE / 2)

    final = engine.execute(run.id, on_change=busy)
    assert final.phase.value == "Succeeded"
    assert rival_won and not any(rival_won)
    metadata.close()


def test_an_engine_whose_run_was_taken_over_stops_without_writing(tmp_path: Path) -> None:
    metadata = MetadataStore(f"sqlite:///{tmp_path / 'kp.db'}")
    engine = _engine(tmp_path, metadata, "slow")
    run = engine.submit(as_workflow(load_manifest(WORKFLOW)[0]), queue=True)
    taken = threading.Event()

    def taken_over(state: RunState) -> None:
        if not taken.is_set():
            # What a rival sees once this engine's lease lapsed: the run is claimable.
            with metadata._tx() as conn:  # noqa: SLF001 - simulate the lapse directly
                from sqlalchemy import update

                from engine.metadata.tables import RunRow

                conn.execute(update(RunRow).where(RunRow.id == run.id).values(heartbeat_at=0))
            assert metadata.claim_run(run.id, "rival", LEASE)
            taken.set()

    with pytest.raises(RunClaimed, match="taken over"):
        engine.execute(run.id, on_change=taken_over)
    state = metadata.load_state(run.id)
    assert state.run.phase.value == "Running"  # not marked Error by the engine that lost it
    assert len([n for n in state.nodes.values() if n.type.value == "Pod"]) == 1
    metadata.close()
