"""The metadata store on SQLite and on the real PostgreSQL server (127.0.0.1:5432, database `test`;
the `store` fixture is in conftest.py)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from engine.errors import IllegalTransition, KubepipeError, RunNotFound
from engine.metadata.store import MetadataStore, RunFilter
from engine.phases import NodePhase, NodeType, RunPhase
from engine.state import ArtifactRecord, LogRecord, RunRecord


def _run(name: str = "wf", created: float = 1.0) -> RunRecord:
    return RunRecord(
        id=uuid.uuid4().hex[:12],
        name=name,
        uid=str(uuid.uuid4()),
        namespace="default",
        phase=RunPhase.PENDING,
        created_at=created,
        manifest={"kind": "Workflow"},
    )


def test_commit_round_trips_nodes_events_artifacts_and_logs(store: MetadataStore) -> None:
    run = _run()
    store.create_run(run)
    state = store.load_state(run.id)
    root = state.create("wf", "wf", NodeType.DAG, template_name="main")
    state.transition(root, NodePhase.RUNNING, "started")
    child = state.create(
        "wf.a",
        "a",
        NodeType.POD,
        parent=root,
        boundary_id=root.id,
        inputs={"parameters": {"x": "ünïcode ✓"}},
    )
    state.transition(child, NodePhase.RUNNING)
    child.outputs = {"result": "42", "parameters": {"p": "v"}}
    child.exit_code = 0
    state.transition(child, NodePhase.SUCCEEDED, "done")
    state.add_artifact(ArtifactRecord(child.id, "model", "file:///x", "a" * 64, 10, False, 2.0))
    state.add_log(LogRecord(child.id, "stdout", "file:///l", "b" * 64, 3, 2.0))
    state.run.phase = RunPhase.RUNNING
    state.run_dirty = True
    store.commit(state)
    assert not state.has_changes()

    loaded = store.load_state(run.id)
    assert loaded.run.phase is RunPhase.RUNNING
    a = loaded.get("wf.a")
    assert a is not None and a.phase is NodePhase.SUCCEEDED and a.outputs["result"] == "42"
    assert a.inputs["parameters"]["x"] == "ünïcode ✓" and a.parent_id == root.id
    assert loaded.get("wf").children == [a.id]
    assert [(e.from_phase, e.to_phase) for e in store.node_events(run.id) if e.node_id == a.id] == [
        (None, NodePhase.PENDING),
        (NodePhase.PENDING, NodePhase.RUNNING),
        (NodePhase.RUNNING, NodePhase.SUCCEEDED),
    ]
    assert [x.name for x in store.artifacts(run.id)] == ["model"]
    assert [x.stream for x in store.logs(run.id, a.id)] == ["stdout"]
    assert loaded.active == {root.id}


def test_illegal_transition_is_refused_and_nothing_is_written(store: MetadataStore) -> None:
    run = _run()
    store.create_run(run)
    state = store.load_state(run.id)
    node = state.create("wf", "wf", NodeType.POD)
    state.transition(node, NodePhase.SUCCEEDED)
    store.commit(state)
    with pytest.raises(IllegalTransition):
        state.transition(node, NodePhase.RUNNING)
    store.commit(state)
    assert store.load_state(run.id).get("wf").phase is NodePhase.SUCCEEDED


def test_resolve_by_id_prefix_and_name(store: MetadataStore) -> None:
    old, new = _run("same", 1.0), _run("same", 2.0)
    store.create_run(old)
    store.create_run(new)
    assert store.resolve_run(new.id).id == new.id
    assert store.resolve_run("same").id == new.id  # the newest of that name
    assert store.resolve_run(old.id[:8]).id == old.id
    with pytest.raises(RunNotFound, match="no run with id or name 'nope'"):
        store.resolve_run("nope")
    assert [r.id for r in store.list_runs()] == [new.id, old.id]
    assert store.list_runs(RunFilter(phase=RunPhase.SUCCEEDED)) == []


def test_stop_request_survives_engine_commits(store: MetadataStore) -> None:
    run = _run()
    store.create_run(run)
    state = store.load_state(run.id)
    store.request_stop(run.id, "Stopped by user")
    state.run.phase = RunPhase.RUNNING
    state.run_dirty = True
    store.commit(state)  # the engine's own write must not clear the request
    assert store.stop_requested(run.id) == "Stopped by user"


def test_delete_run_removes_everything(store: MetadataStore) -> None:
    run = _run()
    store.create_run(run)
    state = store.load_state(run.id)
    state.create("wf", "wf", NodeType.POD)
    store.commit(state)
    store.delete_run(run.id)
    assert store.count_runs() == 0
    assert store.node_events(run.id) == []


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kp.db'}"
    MetadataStore(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("update kubepipe_schema set version = 999"))
    with pytest.raises(
        KubepipeError, match="schema version 999, newer than this kubepipe understands"
    ):
        MetadataStore(url)


def test_an_old_development_schema_is_refused_with_what_to_do(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kp.db'}"
    MetadataStore(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("update kubepipe_schema set version = 1"))
    with pytest.raises(
        KubepipeError, match="development build of kubepipe with no upgrade path; move it aside"
    ):
        MetadataStore(url)


def test_upgrade_steps_run_in_order_once(store: MetadataStore) -> None:
    from engine.metadata.migrations import BASELINE, upgrade

    ran: list[int] = []

    def step(version: int):
        def apply(conn) -> None:
            ran.append(version)
            if version == BASELINE:
                conn.execute(text("alter table runs add column note varchar(20)"))

        return apply

    steps = {BASELINE: step(BASELINE), BASELINE + 1: step(BASELINE + 1)}
    with store._engine.begin() as conn:  # a database at the baseline, two steps behind the target
        conn.execute(text(f"update kubepipe_schema set version = {BASELINE}"))
        assert upgrade(conn, store.url, steps, target=BASELINE + 2) == BASELINE
    with store._engine.begin() as conn:
        assert upgrade(conn, store.url, steps, target=BASELINE + 2) == BASELINE + 2
        conn.execute(text("update runs set note = 'ok'"))
    assert ran == [BASELINE, BASELINE + 1]


def test_a_fenced_commit_from_an_engine_that_lost_its_run_writes_nothing(
    store: MetadataStore,
) -> None:
    run = _run()
    store.create_run(run)
    assert store.claim_run(run.id, "engine-a", lease_seconds=30)
    state = store.load_state(run.id)
    state.run.phase = RunPhase.RUNNING
    state.run_dirty = True
    store.commit(state, "engine-a")
    # engine-a stalls past its lease; engine-b decides it is dead and takes the run over
    assert store.claim_run(run.id, "engine-b", lease_seconds=0)
    state.run.message = "written by a stale engine"
    state.run_dirty = True
    with pytest.raises(KubepipeError, match="taken over by another engine"):
        store.commit(state, "engine-a")
    assert store.load_state(run.id).run.message != "written by a stale engine"
    assert not store.heartbeat(run.id, "engine-a") and store.heartbeat(run.id, "engine-b")
