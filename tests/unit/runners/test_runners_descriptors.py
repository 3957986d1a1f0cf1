"""Descriptors the engine holds per step: a few while it runs, none once its end is recorded.

A 10,000-wide DAG under `kubepipe up` ended ~4,800 nodes in "Too many open files". The running-
step limit (engine.slots) bounds how many steps run; this bounds what each costs, which is what
the limit's default is computed from (`FDS_PER_STEP`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.runners.base import StepHandle, StepStatus
from engine.runners.local import LocalRunner
from engine.slots import FDS_PER_STEP

from _runners_support import MODES, make_runner, request, run_to_end

STEPS = 12


@pytest.fixture(params=MODES)
def runner(request: pytest.FixtureRequest) -> Iterator[LocalRunner]:
    yield from make_runner(request.param)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def settle(runner: LocalRunner, handles: list[StepHandle]) -> list[StepStatus]:
    """Poll every handle to its end as the engine does, then forget it."""
    statuses: dict[str, StepStatus] = {}
    end = time.monotonic() + 30
    while len(statuses) < len(handles):
        for handle in handles:
            if handle.key not in statuses:
                status = runner.poll(handle)
                if status is not None:
                    statuses[handle.key] = status
                    runner.forget(handle)
        assert time.monotonic() < end, "steps did not end"
        runner.wait(0.2)
    return [statuses[h.key] for h in handles]


def test_descriptors_follow_the_running_steps(runner: LocalRunner, tmp_path: Path) -> None:
    # One step first, so what a runner opens once (its mount table, its threads' pipes) is open.
    warm = request(tmp_path / "warm", ["true"])
    run_to_end(runner, warm)
    runner.forget(StepHandle(warm.key, 0, warm.workdir, 0.0))
    runner._spares.close(keep_spares=True)  # finish the chores queued by the warm-up step
    before = open_fds()
    handles = [
        runner.launch(request(tmp_path / f"s{i}", ["sleep", "60"], key=f"run/s{i}/0"))
        for i in range(STEPS)
    ]
    while_running = open_fds() - before
    for handle in handles:
        runner.cancel(handle, "enough")
    statuses = settle(runner, handles)
    assert all(s.message == "enough" for s in statuses)
    runner._spares.close(keep_spares=True)  # the overlay views' unmounts, queued by poll()
    print(f"{while_running} descriptors for {STEPS} running steps")
    # An exit watch (pidfd) each, and an overlay view (one O_PATH descriptor) in overlay mode.
    assert while_running <= STEPS * 3 <= STEPS * FDS_PER_STEP, while_running
    assert open_fds() <= before, "a finished step still holds a descriptor"
    assert runner._steps == {}  # and nothing else of it is kept
