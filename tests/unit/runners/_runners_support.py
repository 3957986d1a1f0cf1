"""Shared helpers for the runner tests: run a request to its end, pick an isolation mode."""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from engine.runners._launch import Launcher, default_passthrough
from engine.runners.base import (
    ResourceLimits,
    StepRequest,
    StepSecurity,
    StepStatus,
    StepVolume,
)
from engine.runners.local import LocalRunner, LocalRunnerSettings

PY = sys.executable
MODES = ("overlay", "pathmap")


def overlay_unavailable() -> str | None:
    """Why overlay isolation cannot be tested here, or None when it can."""
    with tempfile.TemporaryDirectory() as scratch:
        return Launcher({}, default_passthrough()).probe_overlay(Path(scratch) / "probe")


def make_runner(mode: str, **settings: object) -> Iterator[LocalRunner]:
    """A LocalRunner forced into `mode`, closed afterwards; skips overlay where it cannot work."""
    if mode == "overlay":
        reason = overlay_unavailable()
        if reason:
            pytest.skip(reason)
    runner = LocalRunner(LocalRunnerSettings(isolation=mode, kill_grace_seconds=1.0, **settings))  # type: ignore[arg-type]
    try:
        yield runner
    finally:
        runner.close()


def request(
    workdir: Path,
    argv: Sequence[str],
    *,
    key: str | None = None,
    env: Mapping[str, str] | None = None,
    inputs: Mapping[str, Path] | None = None,
    outputs: Sequence[str] = (),
    working_dir: str | None = None,
    limits: ResourceLimits | None = None,
    deadline: float | None = None,
    security: StepSecurity | None = None,
    volumes: Sequence[StepVolume] = (),
) -> StepRequest:
    """A StepRequest with test-friendly defaults."""
    return StepRequest(
        key=key or f"run/{workdir.name}/0",
        argv=argv,
        env=env or {},
        workdir=workdir,
        working_dir=working_dir,
        input_files=inputs or {},
        output_paths=outputs,
        limits=limits or ResourceLimits(),
        deadline_seconds=deadline,
        security=security or StepSecurity(),
        volumes=volumes,
    )


def run_to_end(runner: LocalRunner, step: StepRequest, timeout: float = 15.0) -> StepStatus:
    """Launch and drive a step to its status the way the engine does: wait(), then poll()."""
    handle = runner.launch(step)
    end = time.monotonic() + timeout
    while True:
        status = runner.poll(handle)
        if status is not None:
            return status
        if time.monotonic() > end:
            runner.cancel(handle, "test timeout")
            raise AssertionError(f"step {step.key} did not finish within {timeout}s")
        runner.wait(0.5)


def stdout_of(status: StepStatus) -> str:
    return status.stdout_path.read_text()
