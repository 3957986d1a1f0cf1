"""How many steps may run at once in one engine process, across all the runs it executes.

A node of a Kubernetes cluster admits at most `--max-pods` pods however many workflows ask;
`StepSlots` is that limit for the embedded engine. Every `Engine` a process builds (one per run a
`kubepipe engine` / `kubepipe up` worker thread executes) shares one `StepSlots`, takes a slot
before it launches a pod and gives it back when the pod's end is recorded, so a workflow with no
`parallelism` still never has more steps running than the machine can hold. A step that finds
no free slot stays Pending and is launched by a later reconcile.

The default is derived from the machine. Each running step costs the engine a few file
descriptors for as long as it runs (its exit watch, its sandbox view; see `LocalRunner`) and
a launch briefly a few more (log files, the shim's pipe), so the descriptor limit is divided by
a per-step budget after keeping a reserve for the server's sockets and the database; CPUs cap
it as well, since steps beyond a few dozen per core only queue for the processor.
"""

from __future__ import annotations

import os
import resource
import threading

__all__ = ["FDS_PER_STEP", "StepSlots", "default_step_limit"]

FDS_PER_STEP = 8  # exit watch, sandbox view, and a launch's transient log and pipe descriptors
RESERVED_FDS = 256  # the server's sockets, database connections, artifact uploads
STEPS_PER_CPU = 32


def default_step_limit(
    open_files: int | None = None, cpus: int | None = None
) -> int:
    """Steps that fit the descriptor limit (`RLIMIT_NOFILE`, soft) and the CPUs of this process."""
    if open_files is None:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        open_files = soft if soft != resource.RLIM_INFINITY else 1 << 20
    if cpus is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    reserve = min(RESERVED_FDS, open_files // 2)
    by_fds = (open_files - reserve) // FDS_PER_STEP
    return max(1, min(by_fds, STEPS_PER_CPU * max(1, cpus or 1)))


class StepSlots:
    """A counter of running steps with a ceiling, safe to share between engine threads."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"max running steps must be at least 1, got {limit}")
        self.limit = limit
        self._in_use = 0
        self._peak = 0
        self._lock = threading.Lock()

    @property
    def in_use(self) -> int:
        with self._lock:
            return self._in_use

    @property
    def peak(self) -> int:
        """The most slots ever held at once (benchmarks and tests report it)."""
        with self._lock:
            return self._peak

    def free(self) -> int:
        with self._lock:
            return max(0, self.limit - self._in_use)

    def try_acquire(self) -> bool:
        """Take a slot if one is free; never blocks (the caller's reconcile loop retries)."""
        with self._lock:
            if self._in_use >= self.limit:
                return False
            self._take_locked()
            return True

    def hold(self) -> None:
        """Count a step that is already running (adopted after a restart), even above the limit.

        It runs whether or not it is counted; counting it keeps new launches back until the
        total is under the limit again.
        """
        with self._lock:
            self._take_locked()

    def release(self, count: int = 1) -> None:
        with self._lock:
            if count > self._in_use:
                raise AssertionError(f"released {count} step slots, only {self._in_use} held")
            self._in_use -= count

    def _take_locked(self) -> None:
        self._in_use += 1
        self._peak = max(self._peak, self._in_use)
