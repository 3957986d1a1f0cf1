"""Clocks the scheduler loop is given, so tests and the benchmark can run a year in seconds.

The loop only ever asks a clock for the time and to sleep; which clock it gets decides whether
sleeping waits (`SystemClock`), jumps (`FakeClock`), or jumps while the work in between still
costs real time (`SimulatedClock`, for measuring lag under load).
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the Unix epoch."""

    def sleep(self, seconds: float) -> None:
        """Wait `seconds` (a stop request may end the wait early)."""


class SystemClock:
    """Wall-clock time; `sleep` ends early when `stop` is set, so SIGTERM is prompt."""

    def __init__(self, stop: threading.Event | None = None) -> None:
        self.stop = stop or threading.Event()

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.stop.wait(seconds)


class FakeClock:
    """Time moves only when someone sleeps: each sleep jumps exactly that far."""

    def __init__(self, start: float) -> None:
        self.time = float(start)

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.time += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        self.time += seconds


class SimulatedClock:
    """Runs at real speed while the caller works, and jumps over every sleep.

    A lag measured on this clock is a lag the real loop would have had: the CPU spent between two
    sleeps is real, only the idle waiting is skipped.
    """

    def __init__(self, start: float) -> None:
        self._offset = float(start) - time.perf_counter()

    def now(self) -> float:
        return time.perf_counter() + self._offset

    def sleep(self, seconds: float) -> None:
        self._offset += max(0.0, seconds)
