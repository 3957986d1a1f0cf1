"""A runner adopting steps an earlier runner (a killed engine) launched.

The earlier runner lives in a child process that is SIGKILLed, as an engine is: its steps keep
running, and their shims record how they ended.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _runners_support import MODES, make_runner, request

from engine.runners._shim import LaunchRecord
from engine.runners.base import StepHandle, StepOutcome, StepRequest, StepStatus
from engine.runners.local import LocalRunner

ROOT = Path(__file__).resolve().parents[3]

_LAUNCHER = """
import json, sys, time
from pathlib import Path
from engine.runners.base import StepRequest
from engine.runners.local import LocalRunner, LocalRunnerSettings
from engine.runners import _launch
spec = json.loads(sys.argv[1])
if spec.get("hold"):  # die after spawning the shim but before letting it go
    def hold(self):
        self.records.spawned(self.popen.pid)
        print(json.dumps({"shim": self.popen.pid}), flush=True)
        time.sleep(120)
    _launch.Spawned.release = hold
runner = LocalRunner(LocalRunnerSettings(isolation=spec["mode"]))
handle = runner.launch(StepRequest(key=spec["key"], argv=spec["argv"], env={},
    workdir=Path(spec["workdir"]), output_paths=spec["outputs"]))
print(handle.to_json(), flush=True)
time.sleep(120)
"""

STEP = ["sh", "-c", "sleep 0.6; echo -n made-by-the-step > /tmp/out; exit 3"]


@pytest.fixture(params=MODES)
def runner(request: pytest.FixtureRequest) -> Iterator[LocalRunner]:
    yield from make_runner(request.param)


def _launch_and_die(runner: LocalRunner, step: StepRequest, hold: bool = False) -> StepHandle:
    """Launch `step` from an engine in a child process, then SIGKILL that engine.

    `hold`: the engine dies after spawning the shim and before letting it run the step.
    """
    spec = {
        "hold": hold,
        "mode": runner.settings.isolation,
        "key": step.key,
        "argv": list(step.argv),
        "workdir": str(step.workdir),
        "outputs": list(step.output_paths),
    }
    engine = subprocess.Popen(
        [sys.executable, "-c", _LAUNCHER, json.dumps(spec)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert engine.stdout is not None
    line = engine.stdout.readline()
    engine.send_signal(signal.SIGKILL)
    engine.wait(10)
    if hold:
        return StepHandle(step.key, json.loads(line)["shim"], step.workdir, 0.0)
    return StepHandle.from_json(line)


def _status(runner: LocalRunner, handle: StepHandle, timeout: float = 15) -> StepStatus:
    end = time.monotonic() + timeout
    while (status := runner.poll(handle)) is None:
        assert time.monotonic() < end, "the adopted step never ended"
        runner.wait(0.2)
    return status


def _assert_real_outcome(status: StepStatus) -> None:
    assert status.outcome is StepOutcome.EXITED and status.exit_code == 3, status
    collected = status.outputs["/tmp/out"]
    assert collected is not None and collected.read_text() == "made-by-the-step"


def test_a_step_whose_engine_died_before_recording_the_launch_is_adopted_not_rerun(
    runner: LocalRunner, tmp_path: Path
) -> None:
    step = request(tmp_path / "w", STEP, outputs=["/tmp/out"])
    earlier = _launch_and_die(runner, step)
    handle = runner.launch(step)  # the new engine saw the node Pending and launches it again
    assert handle.pid == earlier.pid  # ... and gets the running step back, not a second one
    _assert_real_outcome(_status(runner, handle))


def test_a_shim_whose_engine_died_before_the_go_ahead_runs_nothing_and_is_relaunched(
    runner: LocalRunner, tmp_path: Path
) -> None:
    step = request(tmp_path / "w", STEP, outputs=["/tmp/out"])
    held = _launch_and_die(runner, step, hold=True)
    handle = runner.launch(step)  # waits for the orphaned shim's verdict, then launches afresh
    assert handle.pid != held.pid
    _assert_real_outcome(_status(runner, handle))
    record = LaunchRecord.read(step.workdir)
    assert record is not None and record.records.shim_pid() == handle.pid


def test_a_step_that_ended_while_no_engine_watched_reports_its_exit_and_outputs(
    runner: LocalRunner, tmp_path: Path
) -> None:
    step = request(tmp_path / "w", STEP, outputs=["/tmp/out"])
    handle = _launch_and_die(runner, step)
    deadline = time.monotonic() + 10
    while _alive(handle.pid):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    _assert_real_outcome(_status(runner, handle))


def test_a_step_killed_with_its_shim_is_lost_with_the_reason(
    runner: LocalRunner, tmp_path: Path
) -> None:
    step = request(tmp_path / "w", ["sleep", "30"])
    handle = _launch_and_die(runner, step)
    os.killpg(handle.pid, signal.SIGKILL)  # nothing is left to record an exit status
    while _alive(handle.pid):
        time.sleep(0.02)
    status = _status(runner, handle)
    assert status.outcome is StepOutcome.LOST and status.exit_code is None
    assert (
        "earlier runner" in status.message and "without recording an exit status" in status.message
    )


def test_a_launch_that_never_started_the_step_is_launched_afresh(
    runner: LocalRunner, tmp_path: Path
) -> None:
    step = request(tmp_path / "w", STEP, outputs=["/tmp/out"])
    first = runner.launch(step)
    _status(runner, first)
    (LaunchRecord.read(step.workdir) or pytest.fail("no launch record")).records.clear()
    fresh = make_runner(runner.settings.isolation)
    other = next(fresh)
    try:
        handle = other.launch(step)  # a record without a pid: the shim never ran the step
        assert handle.pid != first.pid
        _assert_real_outcome(_status(other, handle))
    finally:
        fresh.close()


def test_cancelling_an_adopted_step_stops_it(runner: LocalRunner, tmp_path: Path) -> None:
    step = request(tmp_path / "w", ["sleep", "30"])
    handle = _launch_and_die(runner, step)
    assert runner.poll(handle) is None
    runner.cancel(handle, "stopped by the user")
    status = _status(runner, handle)
    assert status.outcome is StepOutcome.CANCELLED and status.message == "stopped by the user"
    assert not _alive(handle.pid)


def test_a_shim_keeps_a_signal_death_as_one(runner: LocalRunner, tmp_path: Path) -> None:
    step = request(tmp_path / "w", ["sh", "-c", "kill -TERM $$"])
    status = _status(runner, runner.launch(step))
    assert status.exit_code == 143 and "SIGTERM" in status.message, status


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
