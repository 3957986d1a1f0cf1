"""Per-step cgroups for memory and CPU limits, on cgroup v1 or v2, where this process may make them.

A child cgroup is created under the runner's own cgroup in each hierarchy (never elsewhere, so a
runner only ever touches its own subtree). With v1 the spawning thread joins the cgroup by writing
its thread id to `tasks` before it forks, so the step is born inside it; v1 allows per-thread
membership and charges memory to the step's own mm, so nothing escapes the limit. v2 only moves
whole processes, so there the pid is written to `cgroup.procs` right after spawn; the few
microseconds in between are not limited. An OOM kill is read back from `memory.oom_control`
(v1) or `memory.events` (v2), which count kills exactly instead of guessing from SIGKILL.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from engine.runners.base import ResourceLimits

__all__ = ["CgroupSupport", "StepCgroup"]

_CPU_PERIOD_US = 100_000


@dataclass(frozen=True)
class _Place:
    """Where this process may create child cgroups for one controller."""

    version: int
    parent: Path


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _write(path: Path, value: str) -> bool:
    try:
        path.write_text(value)
        return True
    except OSError:
        return False


def _own_cgroups(proc_cgroup: str) -> tuple[dict[str, str], str | None]:
    """Map each v1 controller to this process's cgroup path, plus the v2 path if any."""
    v1: dict[str, str] = {}
    v2: str | None = None
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hid, controllers, path = parts
        if hid == "0" and controllers == "":
            v2 = path
        for name in controllers.split(","):
            if name:
                v1[name] = path
    return v1, v2


def _relative(own: str, mount_root: str) -> str | None:
    if mount_root == "/":
        return own
    if own == mount_root or own.startswith(mount_root + "/"):
        return own[len(mount_root) :] or "/"
    return None


def find_places(proc_cgroup: str | None = None, mountinfo: str | None = None) -> dict[str, _Place]:
    """Locate, per controller ('memory', 'cpu'), the cgroup directory this process lives in.

    The texts of /proc/self/cgroup and /proc/self/mountinfo can be passed in, for tests.
    """
    if proc_cgroup is None:
        proc_cgroup = _read(Path("/proc/self/cgroup"))
    if mountinfo is None:
        mountinfo = _read(Path("/proc/self/mountinfo"))
    own_v1, own_v2 = _own_cgroups(proc_cgroup)
    places: dict[str, _Place] = {}
    v2_place: Path | None = None
    for line in mountinfo.splitlines():
        fields = line.split()
        if " - " not in line or len(fields) < 10:
            continue
        sep = fields.index("-")
        root, mount_point, fstype = fields[3], fields[4], fields[sep + 1]
        super_options = fields[sep + 3].split(",") if len(fields) > sep + 3 else []
        if fstype == "cgroup":
            for controller in ("memory", "cpu"):
                if (
                    controller in super_options
                    and controller in own_v1
                    and controller not in places
                ):
                    rel = _relative(own_v1[controller], root)
                    if rel is not None:
                        places[controller] = _Place(1, Path(mount_point + rel.rstrip("/")))
        elif fstype == "cgroup2" and own_v2 is not None and v2_place is None:
            rel = _relative(own_v2, root)
            if rel is not None:
                v2_place = Path(mount_point + rel.rstrip("/"))
    if v2_place is not None:
        available = _read(v2_place / "cgroup.controllers").split()
        for controller in ("memory", "cpu"):
            if controller in available and controller not in places:
                places[controller] = _Place(2, v2_place)
    return places


@dataclass
class StepCgroup:
    """The cgroup directories of one step and the limits actually set in them."""

    v1_dirs: list[Path] = field(default_factory=list)
    v2_dir: Path | None = None
    memory: int | None = None  # bytes, when the memory limit is enforced here
    cpu: float | None = None  # cores, when the CPU limit is enforced here

    def _memory_dir(self) -> tuple[int, Path] | None:
        for path in self.v1_dirs:
            if (path / "memory.limit_in_bytes").exists():
                return 1, path
        if self.v2_dir is not None and (self.v2_dir / "memory.max").exists():
            return 2, self.v2_dir
        return None

    def join_current_thread(self) -> None:
        """v1: make the calling thread (and so everything it forks) a member; a no-op on v2."""
        tid = str(threading.get_native_id())
        for path in self.v1_dirs:
            (path / "tasks").write_text(tid)

    def leave_current_thread(self) -> None:
        """v1: move the calling thread back, so the cgroup never lists the engine's own pid."""
        tid = str(threading.get_native_id())
        for path in self.v1_dirs:
            _write(path.parent / "tasks", tid)

    def join_process(self, pid: int) -> None:
        """v2: move a freshly spawned process in; a no-op on v1, where the thread already joined."""
        if self.v2_dir is not None:
            (self.v2_dir / "cgroup.procs").write_text(str(pid))

    def oom_killed(self, killed_by_sigkill: bool) -> bool:
        """Whether the kernel OOM-killed a process of this step."""
        found = self._memory_dir()
        if found is None or self.memory is None:
            return False
        version, path = found
        text = _read(path / ("memory.oom_control" if version == 1 else "memory.events"))
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name == "oom_kill":
                return int(value) > 0
        # Kernels before 4.13 lack the counter: hitting the limit and dying by SIGKILL is the best
        # evidence left.
        failcnt = _read(path / "memory.failcnt").strip()
        return killed_by_sigkill and failcnt.isdigit() and int(failcnt) > 0

    def kill_all(self) -> None:
        """Kill every process still in the step's cgroups (daemons that left the process group).

        v1 lists a process in `cgroup.procs` if any one of its threads is a member, so the engine's
        own pid is skipped explicitly: a spawning thread on its way out must not take the engine.
        """
        own = os.getpid()
        v2 = (
            [] if self.v2_dir is None or _write(self.v2_dir / "cgroup.kill", "1") else [self.v2_dir]
        )
        for path in [*self.v1_dirs, *v2]:
            for pid in _read(path / "cgroup.procs").split():
                if not pid.isdigit() or int(pid) == own:
                    continue
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, PermissionError, ValueError):
                    pass

    def remove(self, timeout: float = 0.2) -> bool:
        """Delete the cgroups; killed processes take a moment to leave, hence the short retry."""
        deadline = time.monotonic() + timeout
        remaining = [*self.v1_dirs, *([self.v2_dir] if self.v2_dir else [])]
        while remaining:
            still = []
            for path in remaining:
                try:
                    path.rmdir()
                except FileNotFoundError:
                    pass
                except OSError:
                    still.append(path)
            remaining = still
            if not remaining or time.monotonic() > deadline:
                break
            time.sleep(0.005)
        self.v1_dirs = [p for p in self.v1_dirs if p in remaining]
        if self.v2_dir is not None and self.v2_dir not in remaining:
            self.v2_dir = None
        return not remaining


class CgroupSupport:
    """Creates per-step cgroups; discovers the hierarchies once and remembers what failed."""

    def __init__(self) -> None:
        self._places: dict[str, _Place] | None = None
        self._unusable: set[str] = set()
        self._lock = threading.Lock()

    def _place(self, controller: str) -> _Place | None:
        with self._lock:
            if self._places is None:
                self._places = find_places()
            if controller in self._unusable:
                return None
            return self._places.get(controller)

    def _give_up(self, controller: str) -> None:
        with self._lock:
            self._unusable.add(controller)

    def create(self, name: str, limits: ResourceLimits) -> StepCgroup | None:
        """Create cgroups enforcing what the machine allows of `limits`; None if none applies."""
        step = StepCgroup()
        if limits.memory_bytes is not None:
            path = self._make("memory", name, step)
            if path is not None and self._set_memory(path, limits.memory_bytes):
                step.memory = limits.memory_bytes
        if limits.cpu is not None:
            path = self._make("cpu", name, step)
            if path is not None and self._set_cpu(path, limits.cpu):
                step.cpu = limits.cpu
        if step.memory is None and step.cpu is None:
            step.remove()
            return None
        return step

    def _make(self, controller: str, name: str, step: StepCgroup) -> Path | None:
        place = self._place(controller)
        if place is None:
            return None
        path = place.parent / f"kubepipe-{name}"
        if place.version == 1 or step.v2_dir is None:
            try:
                path.mkdir(exist_ok=True)
            except OSError:
                self._give_up(controller)
                return None
        if place.version == 1:
            step.v1_dirs.append(path)
            return path
        step.v2_dir = path
        if controller not in _read(path / "cgroup.controllers").split():
            # Enabling a controller for children fails (EBUSY) if our own cgroup holds processes.
            _write(place.parent / "cgroup.subtree_control", f"+{controller}")
            if controller not in _read(path / "cgroup.controllers").split():
                self._give_up(controller)
                return None
        return path

    @staticmethod
    def _set_memory(path: Path, limit: int) -> bool:
        if (path / "memory.limit_in_bytes").exists():
            if not _write(path / "memory.limit_in_bytes", str(limit)):
                return False
            _write(path / "memory.memsw.limit_in_bytes", str(limit))  # no swapping around the limit
            return True
        if not _write(path / "memory.max", str(limit)):
            return False
        _write(path / "memory.swap.max", "0")
        return True

    @staticmethod
    def _set_cpu(path: Path, cores: float) -> bool:
        quota = max(1000, int(cores * _CPU_PERIOD_US))
        if (path / "cpu.cfs_quota_us").exists():
            return _write(path / "cpu.cfs_period_us", str(_CPU_PERIOD_US)) and _write(
                path / "cpu.cfs_quota_us", str(quota)
            )
        return _write(path / "cpu.max", f"{quota} {_CPU_PERIOD_US}")
