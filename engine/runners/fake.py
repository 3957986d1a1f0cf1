"""Scripted runners for engine tests: outcomes decided by the test, no processes, no real time.

`FakeRunner` asks a script what each launched request should end with (`FakeOutcome`), keeps the
step "running" for as many polls as the outcome says, then writes its logs and outputs into the
workdir exactly where `LocalRunner` would, so the engine's output handling is exercised for real.
It records every request and cancel so tests can assert on what the engine asked for.

`InstantRunner` completes every step successfully on the first poll with no files at all; it
exists to measure the engine's own overhead (a 10,000-node DAG), so it keeps almost no state.
"""

from __future__ import annotations

import fnmatch
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from engine.runners._files import output_name
from engine.runners.base import StepHandle, StepOutcome, StepRequest, StepStatus

__all__ = ["FakeOutcome", "FakeRunner", "InstantRunner", "by_key"]

OutputValue = bytes | str | Mapping[str, "bytes | str"] | None  # a dict makes a directory of files


@dataclass(frozen=True)
class FakeOutcome:
    """How a scripted step ends; outputs not listed are reported missing."""

    exit_code: int | None = 0
    stdout: bytes | str = b""
    stderr: bytes | str = b""
    outputs: Mapping[str, OutputValue] = field(default_factory=dict)
    outcome: StepOutcome = StepOutcome.EXITED
    message: str = ""
    running_polls: int = 0  # polls that return None before the step ends


Script = Callable[[StepRequest], FakeOutcome]


def by_key(patterns: Mapping[str, FakeOutcome], default: FakeOutcome = FakeOutcome()) -> Script:
    """Build a script that picks the first outcome whose glob matches the key ("run/*/train/*")."""
    items = list(patterns.items())

    def script(request: StepRequest) -> FakeOutcome:
        for pattern, outcome in items:
            if fnmatch.fnmatchcase(request.key, pattern):
                return outcome
        return default

    return script


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


@dataclass
class _FakeStep:
    request: StepRequest
    handle: StepHandle
    outcome: FakeOutcome
    polls_left: int
    cancel_reason: str | None = None
    status: StepStatus | None = None


class FakeRunner:
    """A Runner whose steps end as a script says; see the module docstring."""

    def __init__(self, script: Script | None = None, write_files: bool = True) -> None:
        self._script: Script = script or (lambda request: FakeOutcome())
        self._write_files = write_files
        self._pids = itertools.count(1000)
        self._steps: dict[str, _FakeStep] = {}
        self.launched: list[StepRequest] = []
        self.cancelled: dict[str, str] = {}

    def launch(self, request: StepRequest) -> StepHandle:
        """Record the request and ask the script how it will end."""
        self.launched.append(request)
        outcome = self._script(request)
        handle = StepHandle(request.key, next(self._pids), request.workdir, time.time())
        self._steps[request.key] = _FakeStep(request, handle, outcome, outcome.running_polls)
        return handle

    def poll(self, handle: StepHandle) -> StepStatus | None:
        """None for the scripted number of polls, then the scripted status (cached)."""
        step = self._steps[handle.key]
        if step.status is not None:
            return step.status
        if step.polls_left > 0 and step.cancel_reason is None:
            step.polls_left -= 1
            return None
        step.status = self._finish(step)
        return step.status

    def _finish(self, step: _FakeStep) -> StepStatus:
        request, outcome = step.request, step.outcome
        workdir = request.workdir
        outputs: dict[str, Path | None] = {path: None for path in request.output_paths}
        if self._write_files:
            (workdir / "outputs").mkdir(parents=True, exist_ok=True)
            (workdir / "stdout").write_bytes(_bytes(outcome.stdout))
            (workdir / "stderr").write_bytes(_bytes(outcome.stderr))
            for path in request.output_paths:
                value = outcome.outputs.get(path)
                if value is None:
                    continue
                target = workdir / "outputs" / output_name(path)
                if isinstance(value, Mapping):
                    for name, content in value.items():
                        (target / name).parent.mkdir(parents=True, exist_ok=True)
                        (target / name).write_bytes(_bytes(content))
                else:
                    target.write_bytes(_bytes(value))
                outputs[path] = target
        code: int | None
        if step.cancel_reason is not None:
            kind, code, message = StepOutcome.CANCELLED, 143, step.cancel_reason
        else:
            kind, code = outcome.outcome, outcome.exit_code
            message = outcome.message or (
                f"exited with code {code}" if kind is StepOutcome.EXITED else kind.value
            )
        return StepStatus(
            outcome=kind,
            exit_code=code,
            message=message,
            stdout_path=workdir / "stdout",
            stderr_path=workdir / "stderr",
            outputs=outputs,
            started_at=step.handle.started_at,
            finished_at=time.time(),
        )

    def cancel(self, handle: StepHandle, reason: str) -> None:
        """Record the cancel; the next poll reports CANCELLED unless the step already ended."""
        self.cancelled[handle.key] = reason
        step = self._steps[handle.key]
        if step.status is None:
            step.cancel_reason = reason

    def forget(self, handle: StepHandle) -> None:
        """Drop the step's state; `launched` and `cancelled` keep what tests assert on."""
        step = self._steps.get(handle.key)
        if step is not None and step.status is not None:
            del self._steps[handle.key]

    def wait(self, timeout: float) -> None:
        """Return at once: fake steps advance by polls, not by time."""

    def close(self, abandon: bool = False) -> None:
        """Nothing to release."""


_DEVNULL = Path("/dev/null")
_NO_OUTPUTS: Mapping[str, Path | None] = MappingProxyType({})


class InstantRunner:
    """Every step exits 0 on its first poll, with logs at /dev/null and every output missing."""

    def __init__(self) -> None:
        self._pids = itertools.count(1)
        self._outputs: dict[str, Sequence[str]] = {}  # only for steps that declare outputs

    def launch(self, request: StepRequest) -> StepHandle:
        """Return a handle; nothing runs."""
        if request.output_paths:
            self._outputs[request.key] = request.output_paths
        return StepHandle(request.key, next(self._pids), request.workdir, time.time())

    def poll(self, handle: StepHandle) -> StepStatus:
        """Always finished, successfully."""
        paths = self._outputs.get(handle.key)
        return StepStatus(
            StepOutcome.EXITED,
            0,
            "exited with code 0",
            _DEVNULL,
            _DEVNULL,
            _NO_OUTPUTS if paths is None else dict.fromkeys(paths),
            handle.started_at,
            handle.started_at,
        )

    def cancel(self, handle: StepHandle, reason: str) -> None:
        """Nothing to stop."""

    def forget(self, handle: StepHandle) -> None:
        """Drop the step's declared outputs."""
        self._outputs.pop(handle.key, None)

    def wait(self, timeout: float) -> None:
        """Return at once."""

    def close(self, abandon: bool = False) -> None:
        """Nothing to release."""
