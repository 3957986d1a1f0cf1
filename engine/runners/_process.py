"""Signalling and identifying step processes by pid, safely.

A pid is only a name: once a process is reaped its pid can be reused, so signals go to process
groups only while the group leader is known to exist (or is an unreaped zombie), and a pid found
in a persisted handle is trusted only if the process's start time matches the handle's.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

__all__ = ["is_same_process", "signal_group"]


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Send `sig` to the process group led by `pid`; a group that is gone is not an error."""
    if pid <= 1:  # never our own group (0) or init's (1)
        return
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _start_time(pid: int) -> float | None:
    """Wall-clock start of `pid` from /proc (boot time + start ticks)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        ticks = int(stat.rsplit(")", 1)[1].split()[19])
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime")
        )
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def is_same_process(pid: int, started_at: float, tolerance: float = 2.0) -> bool:
    """Whether `pid` still runs and is the process that started at `started_at` (time.time())."""
    if pid <= 1:
        return False
    start = _start_time(pid)
    return start is not None and abs(start - started_at) < tolerance
