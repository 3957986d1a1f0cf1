"""Runners start steps and report facts about them; the engine turns facts into node phases.

`base` holds the contract (`Runner`, `StepRequest`, `StepStatus`, ...), `local` the process runner
with a pod's contract, `fake` scripted runners for tests and benchmarks, `images` the ENTRYPOINT/CMD
of known images, and `argosay` a stand-in for the `argoproj/argosay` image.

Only `base` is imported eagerly: `local` pulls in ctypes, subprocess and threads (~40 ms), which
code that merely builds a `StepRequest` should not pay for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from engine.runners.base import (
    ResourceLimits,
    Runner,
    StepHandle,
    StepOutcome,
    StepRequest,
    StepStatus,
)

if TYPE_CHECKING:
    from engine.runners.fake import FakeOutcome, FakeRunner, InstantRunner
    from engine.runners.images import resolve_argv
    from engine.runners.local import LocalRunner, LocalRunnerSettings

__all__ = [
    "FakeOutcome",
    "FakeRunner",
    "InstantRunner",
    "LocalRunner",
    "LocalRunnerSettings",
    "ResourceLimits",
    "Runner",
    "StepHandle",
    "StepOutcome",
    "StepRequest",
    "StepStatus",
    "resolve_argv",
]

_LAZY = {
    "FakeOutcome": "engine.runners.fake",
    "FakeRunner": "engine.runners.fake",
    "InstantRunner": "engine.runners.fake",
    "LocalRunner": "engine.runners.local",
    "LocalRunnerSettings": "engine.runners.local",
    "resolve_argv": "engine.runners.images",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
