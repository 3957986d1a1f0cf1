"""Scripts for the FakeRunner shared by the engine tests."""

from __future__ import annotations

from collections.abc import Callable

from engine.runners.base import StepRequest
from engine.runners.fake import FakeOutcome


def script(overrides: dict[str, FakeOutcome]) -> Callable[[StepRequest], FakeOutcome]:
    def run(request: StepRequest) -> FakeOutcome:
        word = request.argv[-1]
        return overrides.get(word, FakeOutcome(stdout=f"{word}\n"))

    return run
