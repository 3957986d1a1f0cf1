"""Step workdirs built ahead of time, so a launch moves one into place instead of making it.

A step's workdir skeleton (stdio files, the overlay's upper and work dirs, the private /tmp,
/var/tmp and HOME, the shim's record files) is about twenty new inodes, whatever the step runs.
Where creating one costs 0.2-1 ms of kernel time (a VM's ext4, measured on the development VM),
that was most of what a launch cost. A `SparePool` builds skeletons on one background thread,
`AHEAD` of demand, and `take()` moves one into place with two renames.

Where: only in a directory D where the runner has been creating a fresh directory per step
(`D/<new dir>/<workdir name>`, which is the engine's `work/<run>/<node>/pod`), so a runner
given workdirs elsewhere (a test's tmp dir) never writes beside them. A spare is
`D/.kubepipe-spare-<kind>-<pid>-<n>/s/`, built under a `.kubepipe-building-<pid>-<n>` name and
renamed only when complete, so the spare name is a promise that the skeleton is whole.

Crash safety: every move is a rename, so a skeleton is at any moment either a spare or a
workdir, never both, and two runners reaching for one spare cannot both get it. An engine that
dies leaves at most `AHEAD` spares per directory it was launching in: the next runner that
launches there takes them as its own, and removes half-built ones whose builder is gone and
spares of a kind it cannot use. `close()` removes the pool's unused spares, and so does a
directory that has seen no launch for `IDLE_SECONDS` (its run has ended). What a crash can
leave for good is the spares of a run that had ended just before it: empty skeletons, a few
dozen inodes, in a directory that keeps every step's workdir anyway.

The same thread also runs chores a finished step leaves that nothing waits for (`later()`),
such as dropping an overlay view's descriptors, which unmounts it. At most `MAX_CHORES` wait:
a chore beyond that runs on the caller's thread, so descriptors a queued chore still holds
never pile up when steps end faster than the thread unmounts.
"""

from __future__ import annotations

import functools
import itertools
import os
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["AHEAD", "IDLE_SECONDS", "SparePool"]

AHEAD = 2  # spares kept ready per directory: a chain needs one, a fan-out drains any number
IDLE_SECONDS = 30.0
MAX_CHORES = 64
_SPARE = ".kubepipe-spare-"
_BUILDING = ".kubepipe-building-"
_INNER = "s"  # the skeleton inside a spare, renamed to the workdir's own name when taken


@dataclass
class _Place:
    """A directory the pool keeps spares in, and what launches there want."""

    mode: str
    kind: str
    last_used: float
    ready: list[Path] = field(default_factory=list)  # complete spares of `kind`
    scanned: bool = False
    stalled: bool = False  # a build made another kind: wait for the next launch's wish


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _remove_all(paths: tuple[Path, ...]) -> None:
    for path in paths:
        _remove(path)


class SparePool:
    """Builds workdir skeletons ahead of launches; see the module docstring.

    `build(directory, mode)` makes a skeleton at `directory` and returns its kind: a name that
    differs whenever the skeleton would (the host's mounts changed), so a spare is only taken
    by a launch that wants exactly what it holds.
    """

    def __init__(self, build: Callable[[Path, str], str], ahead: int = AHEAD) -> None:
        self._build = build
        self._ahead = ahead
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._places: dict[Path, _Place] = {}
        self._chores: deque[Callable[[], None]] = deque()
        self._counter = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopping = False

    def take(self, workdir: Path, mode: str, kind: str) -> bool:
        """Move a spare of `kind` into place as `workdir`; False (nothing moved) if there is none.

        Call it only when `workdir` does not exist. A first launch in a new directory finds
        none, and tells the pool to keep spares there from then on.
        """
        home = workdir.parent.parent
        with self._lock:
            if self._stopping or self._ahead <= 0:
                return False
            place = self._places.get(home)
            if place is None:
                # Spares go only where each step gets a new directory (see the docstring).
                if home == workdir.parent or os.path.lexists(workdir.parent):
                    return False
                place = self._places[home] = _Place(mode, kind, time.monotonic())
            place.last_used = time.monotonic()
            place.stalled = False
            if (place.mode, place.kind) != (mode, kind):
                place.mode, place.kind = mode, kind
                stale, place.ready = place.ready, []
                self._chores.extend(functools.partial(_remove, p) for p in stale)
            spare = place.ready.pop(0) if place.ready else None
            self._start_locked()
            self._wake.notify()
        return spare is not None and self._move(spare, workdir)

    def _move(self, spare: Path, workdir: Path) -> bool:
        named = spare / workdir.name
        try:
            if workdir.name != _INNER:
                os.rename(spare / _INNER, named)
        except OSError:  # not a whole spare after all (another runner took it): drop it
            self.later(functools.partial(_remove, spare))
            return False
        try:
            os.rename(spare, workdir.parent)  # the usual case: the step's directory is new
            return True
        except OSError:
            pass
        try:
            os.rename(named, workdir)  # the step's directory exists (staged inputs)
        except OSError:
            self.later(functools.partial(_remove, spare))
            return False
        self.later(functools.partial(_remove, spare))  # an empty dir now; nobody waits for it
        return True

    def later(self, chore: Callable[[], None]) -> None:
        """Run `chore` on the pool's thread, soon; before `close()` returns at the latest."""
        with self._lock:
            if self._stopping or len(self._chores) >= MAX_CHORES:
                run_now = True
            else:
                run_now = False
                self._chores.append(chore)
                self._start_locked()
                self._wake.notify()
        if run_now:
            chore()

    def close(self, keep_spares: bool = False) -> None:
        """Finish pending chores and stop; remove unused spares unless `keep_spares`.

        `keep_spares=True` is for a runner that hands its steps to another engine, which will
        take them over.
        """
        with self._lock:
            self._stopping = True
            self._wake.notify()
            thread = self._thread
        if thread is not None:
            thread.join()
        while self._chores:
            self._chores.popleft()()
        if not keep_spares:
            for place in self._places.values():
                for spare in place.ready:
                    _remove(spare)
        self._places.clear()

    def _start_locked(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="kubepipe-spares", daemon=True)
            self._thread.start()

    def _next_job(self) -> Callable[[], None] | None:
        """Under the lock: a chore, else a build that is due, else None."""
        if self._chores:
            return self._chores.popleft()
        now = time.monotonic()
        for home, place in list(self._places.items()):
            if now - place.last_used > IDLE_SECONDS:
                del self._places[home]
                return functools.partial(_remove_all, tuple(place.ready))
            if not place.scanned:
                place.scanned = True
                return functools.partial(self._scan, home, place)
            if len(place.ready) < self._ahead and not place.stalled:
                return functools.partial(self._build_one, home, place)
        return None

    def _run(self) -> None:
        while True:
            with self._lock:
                while True:
                    if self._stopping:
                        return  # `close()` runs the chores still queued
                    job = self._next_job()
                    if job is not None:
                        break
                    self._wake.wait(IDLE_SECONDS if self._places else None)
            try:
                job()
            except Exception:  # noqa: BLE001, S110 - a chore's failure has no one to report to
                pass

    def _build_one(self, home: Path, place: _Place) -> None:
        with self._lock:
            mode = place.mode
        tag = f"{os.getpid()}-{next(self._counter)}"
        building = home / f"{_BUILDING}{tag}"
        try:
            kind = self._build(building / _INNER, mode)
            spare = home / f"{_SPARE}{kind}-{tag}"
            os.rename(building, spare)
        except Exception:  # noqa: BLE001 - the directory is gone or unusable: stop building there
            _remove(building)
            with self._lock:
                if self._places.get(home) is place:
                    del self._places[home]
            return
        with self._lock:
            if self._places.get(home) is place and not self._stopping:
                if kind == place.kind:
                    place.ready.append(spare)
                    return
                place.stalled = True  # the host changed under us; the next launch says how
        _remove(spare)  # wanted something else by now, or the pool is closing

    def _scan(self, home: Path, place: _Place) -> None:
        """Take the complete spares an earlier runner left here; remove what nobody can use."""
        try:
            names = [e.name for e in os.scandir(home) if e.name.startswith(".kubepipe-")]
        except OSError:
            return
        with self._lock:
            kind = place.kind
        found: list[Path] = []
        unusable: list[Path] = []
        for name in names:
            if name.startswith(_SPARE):
                spare_kind = name[len(_SPARE) :].rsplit("-", 2)[0]
                (found if spare_kind == kind else unusable).append(home / name)
            elif name.startswith(_BUILDING):
                pid = name[len(_BUILDING) :].split("-", 1)[0]
                if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                    unusable.append(home / name)
        with self._lock:
            if self._places.get(home) is place and kind == place.kind:
                place.ready.extend(found)
        for path in unusable:
            _remove(path)
