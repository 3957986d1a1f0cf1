"""LocalRunner stopping steps: deadline, cancel, memory limits (cgroup OOM and rlimit), restarts."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _runners_support import MODES, PY, make_runner, request, run_to_end

from engine.runners._cgroups import find_places
from engine.runners.base import ResourceLimits, StepHandle, StepOutcome
from engine.runners.local import LocalRunner

ALLOCATE_300MB = (
    "b = bytearray(300 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); print('survived')"
)


@pytest.fixture(params=MODES)
def runner(request: pytest.FixtureRequest) -> Iterator[LocalRunner]:
    yield from make_runner(request.param)


def _gone(pid: int) -> bool:
    """True once `pid` no longer runs (a zombie awaiting init counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def _host_pids_running(marker: str) -> list[int]:
    """Host pids of live processes whose command line holds `marker`.

    A step's own pids are those of its PID namespace (overlay isolation), so a step cannot tell
    the test its children's host pids; a unique argument finds them instead.
    """
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "cmdline").read_bytes() and not _gone(int(entry.name)):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _wait_gone(marker: str) -> list[int]:
    end = time.monotonic() + 2
    while _host_pids_running(marker) and time.monotonic() < end:
        time.sleep(0.02)
    return _host_pids_running(marker)


def test_deadline_kills_the_whole_process_group(runner: LocalRunner, tmp_path: Path) -> None:
    marker = f"30.{os.getpid()}{time.monotonic_ns() % 100000}"
    script = f"sleep {marker} & echo started; wait"
    begun = time.monotonic()
    status = run_to_end(runner, request(tmp_path / "s", ["sh", "-c", script], deadline=0.5))
    assert status.outcome is StepOutcome.DEADLINE_EXCEEDED
    assert status.message == "step exceeded its deadline of 0.5s (activeDeadlineSeconds)"
    assert time.monotonic() - begun < 3.0
    assert status.stdout_path.read_text() == "started\n"
    assert _wait_gone(marker) == [], "the background sleep outlived its step"


def test_deadline_escalates_to_sigkill_after_the_grace_period(
    runner: LocalRunner, tmp_path: Path
) -> None:
    script = "trap '' TERM; echo started; while true; do sleep 0.05; done"
    begun = time.monotonic()
    status = run_to_end(runner, request(tmp_path / "s", ["sh", "-c", script], deadline=0.3))
    assert status.outcome is StepOutcome.DEADLINE_EXCEEDED
    assert status.exit_code == 137  # SIGKILL, after kill_grace_seconds=1.0
    assert 1.0 <= time.monotonic() - begun < 4.0


def test_cancel_reports_the_reason(runner: LocalRunner, tmp_path: Path) -> None:
    handle = runner.launch(request(tmp_path / "s", ["sleep", "30"]))
    runner.cancel(handle, "run was stopped by the user")
    begun = time.monotonic()
    status = None
    while status is None:
        runner.wait(1.0)
        status = runner.poll(handle)
        assert time.monotonic() - begun < 3.0
    assert status.outcome is StepOutcome.CANCELLED
    assert status.message == "run was stopped by the user"
    assert status.exit_code == 143  # SIGTERM


def test_a_stop_early_in_a_step_is_said_again(runner: LocalRunner, tmp_path: Path) -> None:
    """A SIGTERM that lands while the shim's child still runs the shim's trap (before the step
    execs) is lost; the runner repeats it for a young step. The step here swallows the first
    one the same way, so only the repeat ends it with SIGTERM (143) before the 1 s SIGKILL."""
    script = "trap 'trap - TERM' TERM; sleep 0.2 & wait; exec sleep 30"
    handle = runner.launch(request(tmp_path / "s", ["sh", "-c", script]))
    time.sleep(0.05)  # the trap is set
    runner.cancel(handle, "stopped")
    status = None
    while status is None:
        runner.wait(1.0)
        status = runner.poll(handle)
    assert status.outcome is StepOutcome.CANCELLED
    assert status.exit_code == 143


def test_cancel_after_exit_keeps_the_real_outcome(runner: LocalRunner, tmp_path: Path) -> None:
    handle = runner.launch(request(tmp_path / "s", ["true"]))
    runner.wait(5.0)  # returns once the exit is observed, before anyone polled
    runner.cancel(handle, "too late")
    status = runner.poll(handle)
    assert status is not None and status.outcome is StepOutcome.EXITED and status.exit_code == 0


def _writable_memory_cgroup() -> str | None:
    place = find_places().get("memory")
    if place is None:
        return "no memory cgroup controller is available"
    probe = place.parent / f"kubepipe-test-probe-{os.getpid()}"
    try:
        probe.mkdir()
        probe.rmdir()
    except OSError as error:
        return f"memory cgroup {place.parent} is not writable: {error}"
    return None


def test_memory_limit_oom_kill_is_reported(runner: LocalRunner, tmp_path: Path) -> None:
    reason = _writable_memory_cgroup()
    if reason:
        pytest.skip(reason)
    limits = ResourceLimits(memory_bytes=50 * 1024 * 1024)
    status = run_to_end(runner, request(tmp_path / "s", [PY, "-c", ALLOCATE_300MB], limits=limits))
    assert status.outcome is StepOutcome.OOM_KILLED, status
    assert status.exit_code == 137
    assert "memory limit of 52428800 bytes" in status.message
    assert status.notes == ()


def test_memory_limit_without_cgroups_falls_back_to_rlimit(tmp_path: Path) -> None:
    for runner in make_runner("pathmap", use_cgroups=False):
        limits = ResourceLimits(memory_bytes=100 * 1024 * 1024)
        status = run_to_end(
            runner, request(tmp_path / "s", [PY, "-c", ALLOCATE_300MB], limits=limits)
        )
        assert status.outcome is StepOutcome.EXITED and status.exit_code != 0, status
        assert "MemoryError" in status.stderr_path.read_text()
        assert any("address-space rlimit" in note for note in status.notes)


def test_cpu_limit_without_cgroups_is_noted_not_enforced(tmp_path: Path) -> None:
    for runner in make_runner("pathmap", use_cgroups=False):
        status = run_to_end(
            runner, request(tmp_path / "s", ["true"], limits=ResourceLimits(cpu=0.5))
        )
        assert status.exit_code == 0
        assert status.notes == ("cpu limit of 0.5 cores not applied: no writable cpu cgroup",)


def test_handle_from_an_earlier_runner(tmp_path: Path) -> None:
    for first in make_runner("pathmap"):
        running = first.launch(request(tmp_path / "a", ["sleep", "30"], key="a"))
        finished = first.launch(request(tmp_path / "b", ["true"], key="b"))
        while first.poll(finished) is None:
            first.wait(1)
        for second in make_runner("pathmap"):
            adopted = StepHandle.from_json(running.to_json())
            assert second.poll(adopted) is None  # still running, and recognised as the same process
            ended = second.poll(StepHandle.from_json(finished.to_json()))
            # The step's shim recorded its exit status, so the second runner knows it too.
            assert (
                ended is not None and ended.outcome is StepOutcome.EXITED and ended.exit_code == 0
            )
            second.cancel(adopted, "engine shutting down")
            status = None
            end = time.monotonic() + 5
            while status is None and time.monotonic() < end:
                second.wait(0.5)
                status = second.poll(adopted)
            assert status is not None and status.outcome is StepOutcome.CANCELLED
            assert status.message == "engine shutting down"


def test_close_kills_running_steps(tmp_path: Path) -> None:
    for runner in make_runner("pathmap"):
        handle = runner.launch(request(tmp_path / "s", ["sleep", "30"]))
        runner.close()
        end = time.monotonic() + 2
        while not _gone(handle.pid) and time.monotonic() < end:
            time.sleep(0.02)
        assert _gone(handle.pid)
        with pytest.raises(RuntimeError, match="closed"):
            runner.launch(request(tmp_path / "t", ["true"], key="after"))


def test_processes_that_left_the_group_die_with_the_step(
    runner: LocalRunner, tmp_path: Path
) -> None:
    reason = _writable_memory_cgroup()
    if reason:
        pytest.skip(f"needs a step cgroup: {reason}")
    marker = f"30.{os.getpid()}{time.monotonic_ns() % 100000}"
    script = f"setsid sleep {marker} & sleep 0.2; echo started"
    limits = ResourceLimits(memory_bytes=512 * 1024 * 1024)
    status = run_to_end(
        runner, request(tmp_path / "s", ["sh", "-c", script], limits=limits)
    )
    assert status.exit_code == 0 and status.stdout_path.read_text() == "started\n"
    assert _wait_gone(marker) == [], "a process that called setsid outlived its step"


def test_a_deadline_beyond_what_epoll_can_wait_does_not_stop_the_reaper(tmp_path: Path) -> None:
    """A 30-day deadline used to crash the reaper (OverflowError: timeout is too large), after
    which no step's end was ever noticed and the run hung."""
    for runner in make_runner("pathmap"):
        thirty_days = 30 * 86_400.0
        status = run_to_end(runner, request(tmp_path / "s", ["true"], deadline=thirty_days))
        assert status.outcome is StepOutcome.EXITED and status.exit_code == 0
        status = run_to_end(runner, request(tmp_path / "t", ["true"]))  # the reaper still runs
        assert status.exit_code == 0
