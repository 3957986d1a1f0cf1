"""A step's exit status that outlives the engine: a `sh` shim as the step's parent, and its records.

A container runtime keeps a shim process (containerd-shim, conmon) between the daemon and the
container so that a daemon restart loses nothing: the shim reaps the container and keeps its exit
status. The local runner does the same with the one interpreter every "image" here has, `/bin/sh`
(about 0.3 ms per step, against 13 ms for a Python shim). The shim:

1. waits for one line on stdin, sent once the runner has put it into its cgroup and limits, so the
   step never runs outside them; if the runner dies first, the read fails, nothing runs, and the
   shim says so in `<records>/exit` ("unstarted"). The runner records the shim's pid in
   `<records>/shim` before it sends the line, so an engine that adopts the step can tell a shim
   still deciding from one that never was;
2. writes its pid (as the host sees it, sent with the go-ahead: in its own PID namespace it is
   pid 1) to `<records>/pid`, so an engine that died between launching the step and committing
   that it did can still find it;
3. runs the step as its child (argv as given, PATH lookup as `execvp` does, stdin /dev/null),
   with a TERM/INT/HUP trap so a stop's SIGTERM reaches the step and the shim outlives it;
4. writes the step's exit status to `<records>/exit`, then exits with it.

Statuses above 128 are read as "killed by signal N-128", as every container runtime reports them;
a step that calls `exit(137)` itself is indistinguishable from one killed by SIGKILL.

`<records>` is `/.kubepipe` inside an overlay step (it lands in the step's upper layer) and a
host directory of the workdir for a path-mapped step. The runner's own launch record
(`launch.json`, written before the spawn) says which, and what to collect, so a later runner can
adopt the step with nothing but its workdir.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = [
    "LaunchRecord",
    "ShimRecords",
    "check_executable",
    "shim_argv",
]

_SCRIPT = """\
d=$1; shift
read -r go pid || { echo unstarted > "$d/exit"; exit 125; }
echo "$pid" > "$d/pid"
trap : TERM INT HUP
"$@" </dev/null
s=$?
echo $s > "$d/exit"
exit $s
"""
_SHELL = "/bin/sh"
LAUNCH_RECORD = "launch.json"


def shim_argv(argv: Sequence[str], records_dir: str) -> list[str]:
    """The command line that runs `argv` under the shim, keeping its records in `records_dir`."""
    return [_SHELL, "-c", _SCRIPT, "kubepipe-step", records_dir, *argv]


def check_executable(program: str, path: str, cwd: str) -> None:
    """Raise what `execvp` would for `program`, before the shim runs it.

    The shim reports a missing program only as exit code 127, after the fact; checking first keeps
    the runner's "executable not found" and "permission denied" launch failures. Call it with the
    step's root and cwd in effect (after chroot for an overlay step).
    """
    if not os.path.isdir(cwd):
        return  # Popen reports the working directory itself, which is the better message
    if "/" in program:
        candidates = [program if os.path.isabs(program) else os.path.join(cwd, program)]
    else:
        candidates = [os.path.join(d or ".", program) for d in path.split(os.pathsep)]
    denied = False
    for candidate in candidates:
        if os.path.isfile(candidate):
            if os.access(candidate, os.X_OK):
                return
            denied = True
    if denied:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), program)
    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)


@dataclass(frozen=True)
class ShimRecords:
    """The host directory where a step's shim writes its pid and the step's exit status."""

    directory: Path

    def pid(self) -> int | None:
        """The shim's pid once it has started the step, else None."""
        text = _read(self.directory / "pid")
        return int(text) if text and text.isdigit() else None

    def started_at(self) -> float | None:
        """When the shim recorded its pid: its start, to a few milliseconds."""
        try:
            return (self.directory / "pid").stat().st_mtime
        except OSError:
            return None

    _NAMES = ("pid", "exit", "shim")

    def spawned(self, shim_pid: int) -> None:
        """Record the shim's pid (as the host sees it) before it is let go."""
        (self.directory / "shim").write_text(f"{shim_pid}\n")

    def shim_pid(self) -> int | None:
        """The shim's pid if a runner spawned it, whether or not it was let go."""
        text = _read(self.directory / "shim")
        return int(text) if text and text.isdigit() else None

    def unstarted(self) -> bool:
        """The shim lost its runner before the go-ahead: the step never ran."""
        return _read(self.directory / "exit") == "unstarted"

    def returncode(self) -> int | None:
        """The step's status in Popen's convention (-N: killed by signal N); None if unrecorded."""
        text = _read(self.directory / "exit")
        if not text or not text.isdigit():
            return None
        status = int(text)
        return -(status - 128) if 128 < status < 128 + 65 else status

    def reset(self) -> None:
        """Make the directory, with empty records: the step has not been started.

        Empty files read as no record (like absent ones); having them in place means the shim
        only truncates and writes them, which is cheaper on the step's own path than creating
        them, and a prepared sandbox (`_spares.py`) can hold them ready.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        for name in self._NAMES:
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
            os.close(os.open(self.directory / name, flags, 0o644))

    def clear(self) -> None:
        """Forget the records: the step has not been started."""
        for name in self._NAMES:
            try:
                (self.directory / name).unlink()
            except FileNotFoundError:
                pass


@dataclass(frozen=True)
class LaunchRecord:
    """What a runner needs to adopt a step it did not launch; written before the spawn."""

    key: str
    mode: str  # "overlay" | "pathmap"
    argv0: str
    records_dir: str  # host path of the shim's `ShimRecords`
    output_paths: tuple[str, ...]
    deadline_seconds: float | None
    memory_bytes: int | None
    cgroup_v1_dirs: tuple[str, ...]
    cgroup_v2_dir: str | None
    written_at: float
    reader: tuple[int, int] | None = None  # (uid, gid) the step's outputs are read as; None: root

    @staticmethod
    def scratch_name() -> str:
        """The file `write` fills before renaming it into place; a skeleton may hold it empty."""
        return f".{LAUNCH_RECORD}.tmp"

    def write(self, workdir: Path) -> None:
        """Atomically, so a reader never sees half a record."""
        temp = workdir / self.scratch_name()
        temp.write_text(json.dumps(asdict(self)), encoding="utf-8")
        os.replace(temp, workdir / LAUNCH_RECORD)

    @classmethod
    def read(cls, workdir: Path) -> LaunchRecord | None:
        """The record a runner left in `workdir`, or None if there is none (or it is unreadable)."""
        text = _read(workdir / LAUNCH_RECORD)
        if not text:
            return None
        try:
            data = json.loads(text)
            return cls(
                key=str(data["key"]),
                mode=str(data["mode"]),
                argv0=str(data["argv0"]),
                records_dir=str(data["records_dir"]),
                output_paths=tuple(data["output_paths"]),
                deadline_seconds=data["deadline_seconds"],
                memory_bytes=data["memory_bytes"],
                cgroup_v1_dirs=tuple(data["cgroup_v1_dirs"]),
                cgroup_v2_dir=data["cgroup_v2_dir"],
                written_at=float(data["written_at"]),
                reader=_ids(data.get("reader")),
            )
        except (ValueError, KeyError, TypeError):
            return None

    @property
    def records(self) -> ShimRecords:
        return ShimRecords(Path(self.records_dir))


def _ids(value: object) -> tuple[int, int] | None:
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return (value[0], value[1])
    return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
