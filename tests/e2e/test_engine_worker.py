"""`run --detach` queues, `kubepipe engine` executes; claims are exactly-once across workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import EXAMPLES, ROOT
from sqlalchemy import text

from engine.metadata.store import MetadataStore
from engine.metadata.testing import postgres_url_or_skip
from engine.worker import lock_sqlite_queue

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def test_detached_runs_are_executed_by_the_engine_worker(cli, home: Path) -> None:
    queued = json.loads(
        cli("run", str(EXAMPLES / "hello-world.yaml"), "--detach", "-o", "json").stdout
    )
    plain = cli("run", str(EXAMPLES / "dag-diamond.yaml"), "--detach").stdout.strip()
    listed = {r["id"]: r["phase"] for r in json.loads(cli("list", "-o", "json").stdout)}
    assert listed == {queued["id"]: "Pending", plain: "Pending"}
    result = cli("engine", "--until-idle")
    assert result.exit_code == 0, result.output
    listed = {r["id"]: r["phase"] for r in json.loads(cli("list", "-o", "json").stdout)}
    assert listed == {queued["id"]: "Succeeded", plain: "Succeeded"}


def test_a_second_worker_on_sqlite_refuses_to_start(cli, home: Path) -> None:
    held = lock_sqlite_queue(home / "kubepipe.db")
    try:
        result = cli("engine", "--until-idle")
    finally:
        held.close()
    assert result.exit_code == 2
    assert "already owns the run queue" in result.stderr and "use PostgreSQL" in result.stderr


def test_a_run_whose_engine_died_is_adopted_and_a_live_one_is_not(cli, home: Path) -> None:
    orphan = cli("run", str(EXAMPLES / "hello-world.yaml"), "--detach").stdout.strip()
    alive = cli("run", str(EXAMPLES / "hello-world.yaml"), "--detach").stdout.strip()
    store = MetadataStore(f"sqlite:///{home / 'kubepipe.db'}")
    assert store.claim_run(orphan, "dead-engine", lease_seconds=30)
    assert store.claim_run(alive, "busy-engine", lease_seconds=30)
    with store._tx() as conn:  # the dead engine's last heartbeat was long ago
        conn.execute(text("update runs set heartbeat_at = 0 where id = :id"), {"id": orphan})
    assert not store.claim_run(alive, "intruder", lease_seconds=30), (
        "a live lease must not be taken"
    )
    assert cli("engine", "--until-idle").exit_code == 0
    assert store.resolve_run(orphan).phase.value == "Succeeded"
    assert store.resolve_run(alive).phase.value == "Pending"
    store.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from postgres_url_or_skip()


def test_three_workers_on_postgresql_execute_each_run_and_node_once(
    pg_url: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "KUBEPIPE_HOME": str(tmp_path / "home"),
        "KUBEPIPE_DB_URL": pg_url,
        "KUBEPIPE_POLL_INTERVAL": "0.1",
    }
    ids = []
    for _ in range(20):
        out = subprocess.run(
            [sys.executable, "-m", "engine", "run", str(EXAMPLES / "dag-diamond.yaml"), "--detach"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        ids.append(out.stdout.strip())
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "engine", "engine", "--until-idle", "--concurrency", "3"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    logs = [w.communicate(timeout=240)[1] for w in workers]
    assert all(w.returncode == 0 for w in workers), logs
    finished = [line for log in logs for line in log.splitlines() if line.startswith("run ")]
    assert sorted(line.split()[1] for line in finished) == sorted(ids), (
        "each run executed by exactly one worker"
    )
    store = MetadataStore(pg_url)
    for run_id in ids:
        state = store.load_state(run_id)
        assert state.run.phase.value == "Succeeded"
        running = [e for e in store.node_events(run_id) if e.to_phase.value == "Running"]
        pods = [n for n in state.nodes.values() if n.type.value == "Pod"]
        assert len(pods) == 4 and sorted(
            e.node_id for e in running if e.node_id in {p.id for p in pods}
        ) == sorted(p.id for p in pods), "each step launched exactly once"
    store.close()
