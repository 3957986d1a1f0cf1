"""One thread that notices process exits and fires timers, so a runner needs no thread per step.

Exits are observed through pidfds (Linux >= 5.3) in one epoll set: a pidfd becomes readable when
its process has exited but before it is reaped, which lets the runner kill the rest of the process
group while the group id is still guaranteed not to be reused. Where pidfds are unavailable the
thread falls back to checking those pids every 50 ms. Timers (deadlines, SIGKILL after a grace
period) share the same loop, so every callback runs on this one thread, in order.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import selectors
import threading
import time
from collections.abc import Callable

__all__ = ["Reaper"]

_FALLBACK_INTERVAL = 0.05
# epoll takes at most 2^31-1 ms (about 24.8 days); a later timer (a 30d activeDeadlineSeconds)
# is waited for in slices of a day.
_LONGEST_WAIT = 86_400.0
_log = logging.getLogger(__name__)


def _has_exited(pid: int, is_child: bool) -> bool:
    """Exit check for pids without a pidfd; WNOWAIT leaves the zombie for its owner to reap."""
    try:
        if is_child:
            return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        os.kill(pid, 0)
        return False
    except (ChildProcessError, ProcessLookupError):
        return True
    except PermissionError:
        return False


def _call(fn: Callable[[], None]) -> None:
    """Run a callback; a bug in one must not stop exits of every other step from being noticed."""
    try:
        fn()
    except Exception:  # noqa: BLE001 - logged, and the loop must survive
        _log.exception("runner callback failed")


class Reaper:
    """Calls `on_exit()` once per watched pid after it exits, and `fn()` for each timer when due."""

    def __init__(self, name: str = "kubepipe-reaper") -> None:
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._lock = threading.Lock()
        self._pending: list[tuple[int, bool, Callable[[], None]]] = []
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._sequence = itertools.count()
        self._unwatched: dict[
            int, tuple[bool, Callable[[], None]]
        ] = {}  # pid -> (is_child, on_exit)
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def watch(self, pid: int, on_exit: Callable[[], None], is_child: bool = True) -> None:
        """Arrange for `on_exit` to run on the reaper thread once `pid` has exited."""
        with self._lock:
            self._pending.append((pid, is_child, on_exit))
        self._wake()

    def call_at(self, when: float, fn: Callable[[], None]) -> None:
        """Run `fn` on the reaper thread at `when` (time.monotonic())."""
        with self._lock:
            heapq.heappush(self._timers, (when, next(self._sequence), fn))
        self._wake()

    def stop(self) -> None:
        """Stop the thread; watches and timers not yet fired are dropped."""
        with self._lock:
            self._stopping = True
        self._wake()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)
        for key in list(self._selector.get_map().values()):
            if key.fd != self._wake_r:
                os.close(key.fd)
        self._selector.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except BlockingIOError:  # the pipe is full, so a wake-up is already pending
            pass

    def _register_pending(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        for pid, is_child, on_exit in pending:
            try:
                pidfd = os.pidfd_open(pid)
            except (AttributeError, OSError):  # no pidfds, or the process is already gone
                self._unwatched[pid] = (is_child, on_exit)
                continue
            self._selector.register(pidfd, selectors.EVENT_READ, on_exit)

    def _next_timeout(self) -> float | None:
        with self._lock:
            due = self._timers[0][0] - time.monotonic() if self._timers else None
        if self._unwatched:
            due = _FALLBACK_INTERVAL if due is None else min(due, _FALLBACK_INTERVAL)
        return None if due is None else min(max(due, 0.0), _LONGEST_WAIT)

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._stopping:
                    return
            self._register_pending()
            for key, _ in self._selector.select(self._next_timeout()):
                if key.fd == self._wake_r:
                    try:
                        while os.read(self._wake_r, 4096):
                            pass
                    except BlockingIOError:
                        pass
                    continue
                self._selector.unregister(key.fd)
                os.close(key.fd)
                _call(key.data)
            for pid, (is_child, on_exit) in list(self._unwatched.items()):
                if _has_exited(pid, is_child):
                    del self._unwatched[pid]
                    _call(on_exit)
            self._fire_due_timers()

    def _fire_due_timers(self) -> None:
        now = time.monotonic()
        while True:
            with self._lock:
                if not self._timers or self._timers[0][0] > now:
                    return
                _, _, fn = heapq.heappop(self._timers)
            _call(fn)
