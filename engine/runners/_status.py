"""Turning what a runner observed into a `StepStatus`, with messages a user can act on.

The precedence is what caused the end, not what it looked like: a step that the runner killed
for its deadline or a cancel reports that cause even though it also died by a signal, and an
OOM kill is only claimed when the kernel's counters say so.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from pathlib import Path

from engine.runners.base import StepHandle, StepOutcome, StepRequest, StepStatus

__all__ = ["build_status", "exit_code_of", "launch_failure_message", "lost_status"]


def exit_code_of(returncode: int | None) -> int | None:
    """Popen's -N (killed by signal N) becomes 128+N, the code a container runtime reports."""
    if returncode is None:
        return None
    return returncode if returncode >= 0 else 128 - returncode


def _describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "exit status unknown"
    if returncode >= 0:
        return f"exited with code {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    return f"killed by {name} (exit code {128 - returncode})"


def launch_failure_message(request: StepRequest, error: BaseException) -> str:
    """Explain why a step never started, naming the thing the user has to fix."""
    program = request.argv[0]
    if isinstance(error, FileNotFoundError):
        cwd = request.working_dir
        if cwd and error.filename == cwd:
            return f"working directory {cwd!r} could not be entered: {error.strerror}"
        if error.filename in (None, program) or not isinstance(error.filename, str):
            return (
                f"executable {program!r} not found (images are not pulled locally; "
                "the step's command must exist on this machine)"
            )
        return f"could not start the step: {error}"
    if isinstance(error, PermissionError) and error.filename in (None, program):
        return f"executable {program!r} could not be run: permission denied"
    if isinstance(error, ValueError):
        return f"could not prepare the step: {error}"
    return f"could not start the step: {error}"


def build_status(
    *,
    request: StepRequest,
    returncode: int | None,
    launch_error: str | None,
    cancel_reason: str | None,
    deadline_hit: bool,
    oom_killed: bool,
    outputs: Mapping[str, Path | None],
    started_at: float,
    finished_at: float,
    notes: tuple[str, ...] = (),
    refused_outputs: Mapping[str, str] | None = None,
) -> StepStatus:
    """The status for a step launched by this runner."""
    if launch_error is not None:
        outcome, message = StepOutcome.LAUNCH_FAILED, launch_error
    elif cancel_reason is not None:
        outcome, message = StepOutcome.CANCELLED, cancel_reason
    elif deadline_hit:
        deadline = request.deadline_seconds or 0.0
        outcome = StepOutcome.DEADLINE_EXCEEDED
        message = f"step exceeded its deadline of {deadline:g}s (activeDeadlineSeconds)"
    elif oom_killed:
        outcome = StepOutcome.OOM_KILLED
        limit = request.limits.memory_bytes
        message = f"step was OOM-killed: it exceeded its memory limit of {limit} bytes"
    else:
        outcome, message = StepOutcome.EXITED, _describe_exit(returncode)
    return StepStatus(
        outcome=outcome,
        exit_code=exit_code_of(returncode),
        message=message,
        stdout_path=request.workdir / "stdout",
        stderr_path=request.workdir / "stderr",
        outputs=outputs if launch_error is None else {p: None for p in request.output_paths},
        started_at=started_at,
        finished_at=finished_at,
        notes=notes,
        refused_outputs=refused_outputs or {},
    )


def lost_status(
    handle: StepHandle, reason: str, finished_at: float, cancel_reason: str | None = None
) -> StepStatus:
    """The status for a handle this runner did not launch: exit code and outputs are unknowable."""
    cancelled = cancel_reason is not None
    return StepStatus(
        outcome=StepOutcome.CANCELLED if cancelled else StepOutcome.LOST,
        exit_code=None,
        message=cancel_reason if cancel_reason is not None else f"step outcome unknown: {reason}",
        stdout_path=handle.workdir / "stdout",
        stderr_path=handle.workdir / "stderr",
        outputs={},
        started_at=handle.started_at,
        finished_at=finished_at,
    )
