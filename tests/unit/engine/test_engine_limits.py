"""Bounded resources for any run size: the running-step limit, stop at scale, unique node ids.

Issue 12 item 3's reproductions, scaled down: a 10,000-wide DAG exhausted descriptors because
every step was launched at once, and a stop of a 100,000-item withSequence did not take effect
because the engine created and launched every item before it looked again. Concurrency is
read from the order of recorded events (the runner's start/finish log, the run's node events),
never from the clock.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from artifact_store import LocalArtifactStore
from engine.executor import Engine
from engine.metadata.store import MetadataStore
from engine.phases import NodePhase, NodeType, RunPhase
from engine.runners.base import StepHandle, StepRequest, StepStatus
from engine.runners.fake import FakeOutcome, FakeRunner
from engine.settings import Settings
from engine.slots import FDS_PER_STEP, StepSlots, default_step_limit
from engine.spec import Workflow
from engine.state import RunRecord, RunState

ECHO = {
    "name": "echo",
    "inputs": {"parameters": [{"name": "x", "value": "-"}]},
    "container": {"image": "alpine", "command": ["echo", "{{inputs.parameters.x}}"]},
}


def argument(value: object) -> dict[str, Any]:
    return {"parameters": [{"name": "x", "value": str(value)}]}


def main_steps(group: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": "main", "steps": [group]}


def workflow_of(name: str, spec: dict[str, Any]) -> Workflow:
    return Workflow.model_validate(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": name},
            "spec": spec,
        }
    )


def wide_dag(width: int, parallelism: int | None = None) -> Workflow:
    tasks = [{"name": f"t{i}", "template": "echo", "arguments": argument(i)} for i in range(width)]
    spec: dict[str, Any] = {
        "entrypoint": "main",
        "templates": [{"name": "main", "dag": {"tasks": tasks}}, ECHO],
    }
    if parallelism is not None:
        spec["parallelism"] = parallelism
    return workflow_of("wide", spec)


def loop(kind: str, count: int) -> Workflow:
    step: dict[str, Any] = {
        "name": "each",
        "template": "echo",
        "arguments": {"parameters": [{"name": "x", "value": "{{item}}"}]},
    }
    if kind == "withSequence":
        step["withSequence"] = {"count": str(count)}
    else:
        step["withItems"] = list(range(count))
    return workflow_of("loop", {"entrypoint": "main", "templates": [main_steps([step]), ECHO]})


class RecordingRunner(FakeRunner):
    """A FakeRunner that logs each step's start and end (first finished poll) in one shared list."""

    def __init__(
        self,
        log: list[tuple[str, str]],
        lock: threading.Lock,
        outcome: FakeOutcome = FakeOutcome(running_polls=2),
        on_launch: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(lambda request: outcome, write_files=False)
        self.log, self.lock, self.on_launch = log, lock, on_launch
        self._ended: set[str] = set()

    def launch(self, request: StepRequest) -> StepHandle:
        handle = super().launch(request)
        with self.lock:
            self.log.append(("start", request.key))
            launches = sum(1 for kind, _ in self.log if kind == "start")
        if self.on_launch is not None:
            self.on_launch(launches)
        return handle

    def poll(self, handle: StepHandle) -> StepStatus | None:
        status = super().poll(handle)
        if status is not None and handle.key not in self._ended:
            self._ended.add(handle.key)
            with self.lock:
                self.log.append(("end", handle.key))
        return status


def most_at_once(log: list[tuple[str, str]]) -> int:
    running, peak = 0, 0
    for kind, _ in log:
        running += 1 if kind == "start" else -1
        peak = max(peak, running)
    return peak


def running_pods_by_events(metadata: MetadataStore, run_id: str) -> int:
    """The most Pod nodes Running at once, replayed from the run's recorded node events."""
    pods = {n.id for n in metadata.load_state(run_id).nodes.values() if n.type is NodeType.POD}
    running, peak = 0, 0
    for event in metadata.node_events(run_id):
        if event.node_id not in pods:
            continue
        if event.to_phase is NodePhase.RUNNING:
            running += 1
        elif event.from_phase is NodePhase.RUNNING and event.to_phase.is_fulfilled:
            running -= 1
        peak = max(peak, running)
    return peak


def make_engine(tmp: Path, runner: FakeRunner, slots: StepSlots, db: str = "kp.db") -> Engine:
    return Engine(
        MetadataStore(f"sqlite:///{tmp / db}"),
        LocalArtifactStore(tmp / "artifacts"),
        runner,
        work_root=tmp / "work",
        poll_interval=0.01,
        slots=slots,
    )


@settings(max_examples=12, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=6),
    width=st.integers(min_value=1, max_value=30),
    parallelism=st.none() | st.integers(min_value=1, max_value=8),
)
def test_a_run_never_has_more_steps_running_than_the_limit_or_its_parallelism(
    tmp_path_factory: pytest.TempPathFactory, limit: int, width: int, parallelism: int | None
) -> None:
    tmp = tmp_path_factory.mktemp("limit")
    log: list[tuple[str, str]] = []
    slots = StepSlots(limit)
    engine = make_engine(tmp, RecordingRunner(log, threading.Lock()), slots)
    run = engine.execute(engine.submit(wide_dag(width, parallelism)).id)
    assert run.phase is RunPhase.SUCCEEDED
    bound = min(limit, parallelism or limit)
    assert most_at_once(log) <= bound
    assert running_pods_by_events(engine.metadata, run.id) <= bound
    assert slots.in_use == 0  # every slot is given back when the run ends


def test_parallel_steps_of_one_group_keep_to_the_limit(tmp_path: Path) -> None:
    group = [{"name": f"s{i}", "template": "echo", "arguments": argument(i)} for i in range(20)]
    workflow = workflow_of("steps", {"entrypoint": "main", "templates": [main_steps(group), ECHO]})
    log: list[tuple[str, str]] = []
    engine = make_engine(tmp_path, RecordingRunner(log, threading.Lock()), StepSlots(3))
    run = engine.execute(engine.submit(workflow).id)
    assert run.phase is RunPhase.SUCCEEDED
    assert len(log) == 40 and most_at_once(log) <= 3
    assert running_pods_by_events(engine.metadata, run.id) <= 3


def test_steps_waiting_for_a_slot_stay_pending_and_all_run(tmp_path: Path) -> None:
    log: list[tuple[str, str]] = []
    seen: list[dict[str, int]] = []

    def phases(state: RunState) -> None:
        counts: dict[str, int] = {}
        for node in state.nodes.values():
            if node.type is NodeType.POD:
                counts[node.phase.value] = counts.get(node.phase.value, 0) + 1
        seen.append(counts)

    engine = make_engine(tmp_path, RecordingRunner(log, threading.Lock()), StepSlots(2))
    run = engine.execute(engine.submit(wide_dag(12)).id, on_change=phases)
    assert run.phase is RunPhase.SUCCEEDED
    assert len(log) == 24 and most_at_once(log) == 2
    assert not any(c.get("Error") or c.get("Failed") for c in seen)
    # The walk creates no more pods than can run: the others do not exist yet, as in Argo.
    assert max(sum(c.values()) - c.get("Succeeded", 0) for c in seen) <= 2


def test_runs_executed_by_one_process_share_its_limit(tmp_path: Path) -> None:
    log: list[tuple[str, str]] = []
    lock = threading.Lock()
    slots = StepSlots(3)
    engines = [
        make_engine(tmp_path, RecordingRunner(log, lock, FakeOutcome(running_polls=5)), slots)
        for _ in range(3)
    ]
    runs = [e.submit(wide_dag(15)) for e in engines]
    results: list[RunRecord] = []
    threads = [
        threading.Thread(target=lambda e=e, r=r: results.append(e.execute(r.id)))
        for e, r in zip(engines, runs)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.phase for r in results] == [RunPhase.SUCCEEDED] * 3
    assert len(log) == 90
    assert most_at_once(log) <= 3
    assert slots.in_use == 0


class StopAt:
    """A launch hook: at the n-th launch, record a stop request, then a "stop" mark in the log."""

    def __init__(self, n: int, metadata: MetadataStore, log: list[tuple[str, str]]) -> None:
        self.n, self.metadata, self.log = n, metadata, log
        self.lock = threading.Lock()
        self.run_id = ""

    def __call__(self, launches: int) -> None:
        if launches == self.n:
            self.metadata.request_stop(self.run_id, "Stopped by test")
            with self.lock:
                self.log.append(("stop", ""))


@pytest.mark.parametrize("count", [5_000, 100_000], ids=["5k", "100k"])
def test_stop_of_a_large_with_sequence_run_launches_nothing_after_it(
    tmp_path: Path, count: int
) -> None:
    log: list[tuple[str, str]] = []
    metadata = MetadataStore(f"sqlite:///{tmp_path / 'kp.db'}")
    stop = StopAt(5, metadata, log)
    runner = RecordingRunner(log, stop.lock, FakeOutcome(running_polls=10**9), on_launch=stop)
    engine = make_engine(tmp_path, runner, StepSlots(16))
    stop.run_id = engine.submit(loop("withSequence", count)).id
    run = engine.execute(stop.run_id)
    assert run.phase is RunPhase.FAILED and run.message == "Stopped by test"
    kinds = [kind for kind, _ in log]
    assert "start" not in kinds[kinds.index("stop") :]
    assert sorted(runner.cancelled) == sorted(key for kind, key in log[: kinds.index("stop")])
    # Only what could run was ever created: the run's size costs nothing up front.
    state = metadata.load_state(run.id)
    assert sum(1 for n in state.nodes.values() if n.type is NodeType.POD) <= 16


def test_a_stop_still_runs_the_exit_handler_and_nothing_else(tmp_path: Path) -> None:
    log: list[tuple[str, str]] = []
    metadata = MetadataStore(f"sqlite:///{tmp_path / 'kp.db'}")
    stop = StopAt(3, metadata, log)
    endless = FakeOutcome(running_polls=10**9)
    runner = RecordingRunner(log, stop.lock, endless, on_launch=stop)
    # Steps launched before the stop run until cancelled; the exit handler's ends at once.
    runner._script = lambda request: FakeOutcome() if ("stop", "") in log else endless
    engine = make_engine(tmp_path, runner, StepSlots(4))
    workflow = loop("withSequence", 1_000).model_dump(by_alias=True, exclude_none=True)
    workflow["spec"]["onExit"] = "echo"
    stop.run_id = engine.submit(Workflow.model_validate(workflow)).id
    run = engine.execute(stop.run_id)
    assert run.phase is RunPhase.FAILED and run.message == "Stopped by test"
    kinds = [kind for kind, _ in log]
    after_stop = [key for kind, key in log[kinds.index("stop") :] if kind == "start"]
    assert after_stop == [f"{run.id}/{run.exit_node_id}"]
    exit_node = metadata.load_state(run.id).nodes[run.exit_node_id or ""]
    assert exit_node.phase is NodePhase.SUCCEEDED


def test_a_big_with_items_loop_completes_with_bounded_per_walk_state(tmp_path: Path) -> None:
    log: list[tuple[str, str]] = []
    runner = RecordingRunner(log, threading.Lock(), FakeOutcome())
    engine = make_engine(tmp_path, runner, StepSlots(8))
    run = engine.execute(engine.submit(loop("withItems", 2_000)).id)
    assert run.phase is RunPhase.SUCCEEDED
    assert len(log) == 4_000 and most_at_once(log) <= 8
    state = engine.metadata.load_state(run.id)
    pods = [n for n in state.nodes.values() if n.type is NodeType.POD]
    assert len(pods) == 2_000 and all(n.phase is NodePhase.SUCCEEDED for n in pods)
    assert {n.inputs["parameters"]["x"] for n in pods} == {str(i) for i in range(2_000)}
    assert runner._steps == {}  # the runner forgot every step once its end was recorded


def _crc_collision(prefix: str) -> tuple[str, str]:
    seen: dict[int, str] = {}
    index = 0
    while True:
        name = f"{prefix}({index}:{index})"
        value = zlib.crc32(name.encode())
        if value in seen:
            return seen[value], name
        seen[value] = name
        index += 1


def test_node_ids_stay_unique_when_their_hashes_collide(tmp_path: Path) -> None:
    """A 100,000-node run met two names with one crc32; its commit then failed (UNIQUE)."""
    first, second = _crc_collision("run[0].each")
    metadata = MetadataStore(f"sqlite:///{tmp_path / 'kp.db'}")
    record = RunRecord(
        id="r1",
        name="run",
        uid="u",
        namespace="default",
        phase=RunPhase.RUNNING,
        created_at=0.0,
        manifest={},
    )
    metadata.create_run(record)
    state = RunState(record)
    a = state.create(first, first, NodeType.POD)
    b = state.create(second, second, NodeType.POD)
    assert a.id != b.id
    metadata.commit(state)
    again = metadata.load_state("r1")
    assert again.by_name[first].id == a.id and again.by_name[second].id == b.id
    # Ids are stored, not recomputed: a resumed state creates further nodes around both.
    third = again.create(f"{second}x", "x", NodeType.POD)
    assert third.id not in (a.id, b.id)


def test_the_default_limit_follows_the_descriptor_limit_and_the_cpus() -> None:
    assert default_step_limit(open_files=1024, cpus=2) == 64  # 2 CPUs bind first
    assert default_step_limit(open_files=128, cpus=64) == (128 - 64) // FDS_PER_STEP
    assert default_step_limit(open_files=4, cpus=1) == 1


@given(open_files=st.integers(min_value=1, max_value=1 << 20), cpus=st.integers(1, 512))
def test_the_default_limit_leaves_room_for_the_server(open_files: int, cpus: int) -> None:
    limit = default_step_limit(open_files=open_files, cpus=cpus)
    assert limit >= 1
    assert limit == 1 or limit * FDS_PER_STEP <= open_files - min(256, open_files // 2)


def test_the_limit_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBEPIPE_MAX_RUNNING_STEPS", "7")
    assert Settings().running_step_limit == 7
    monkeypatch.setenv("KUBEPIPE_MAX_RUNNING_STEPS", "0")
    with pytest.raises(ValueError, match="max_running_steps"):
        Settings()
    monkeypatch.delenv("KUBEPIPE_MAX_RUNNING_STEPS")
    assert Settings().running_step_limit == default_step_limit()


def test_a_bad_limit_is_refused_naming_the_flag_or_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from engine.cli import main

    monkeypatch.setenv("KUBEPIPE_HOME", str(tmp_path))
    monkeypatch.delenv("KUBEPIPE_DB_URL", raising=False)
    for command in ("engine", "up"):
        result = CliRunner().invoke(main, [command, "--max-running-steps", "0"])
        assert result.exit_code == 2 and "--max-running-steps" in result.output, result.output
    monkeypatch.setenv("KUBEPIPE_MAX_RUNNING_STEPS", "lots")
    result = CliRunner().invoke(main, ["list"])
    assert result.exit_code == 2
    assert "KUBEPIPE_MAX_RUNNING_STEPS" in result.output, result.output


def job_step(parallelism: int, completions: int) -> Workflow:
    """A resource step whose local Job controller starts the pods itself."""
    manifest = (
        "apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: work-}\n"
        f"spec:\n  parallelism: {parallelism}\n  completions: {completions}\n"
        "  template:\n    spec:\n      restartPolicy: Never\n"
        "      containers: [{name: main, image: alpine, command: [echo, hi]}]\n"
    )
    job = {"name": "job", "resource": {"action": "create", "manifest": manifest}}
    spec = {"entrypoint": "main", "templates": [
        {"name": "main", "dag": {"tasks": [
            {"name": "a", "template": "job"}, {"name": "b", "template": "job"}]}},
        job,
    ]}
    return workflow_of("jobs", spec)


def test_pods_a_job_controller_starts_keep_to_the_limit(tmp_path: Path) -> None:
    """Two Jobs of parallelism 4 under a limit of 3: the Job pods take slots like any step."""
    log: list[tuple[str, str]] = []
    slots = StepSlots(3)
    engine = make_engine(tmp_path, RecordingRunner(log, threading.Lock()), slots)
    run = engine.execute(engine.submit(job_step(parallelism=4, completions=6)).id)
    assert run.phase is RunPhase.SUCCEEDED
    assert sum(1 for kind, _ in log if kind == "start") == 12
    assert most_at_once(log) <= 3
    assert slots.in_use == 0 and slots.peak == 3
