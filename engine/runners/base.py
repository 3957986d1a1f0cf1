"""The contract between the engine and whatever runs a step: runners report facts, never phases.

A runner turns a fully substituted `StepRequest` into a process (or pod) and later reports a
`StepStatus`: how the step ended (`StepOutcome`), its exit code, where its logs and collected
outputs are. Deciding whether that means SUCCEEDED, FAILED or ERROR, and whether to retry, is the
engine's job (STYLE.md guideline 9), so nothing here knows about node phases.

`StepHandle` is the only thing the engine must keep between calls; it is plain data with a JSON
form so a restarted engine can hand it to a fresh runner (which then reports what it can still
know about the step, see `StepOutcome.LOST`).
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = [
    "ResourceLimits",
    "Runner",
    "StepSecurity",
    "StepVolume",
    "VolumeKind",
    "StepHandle",
    "StepOutcome",
    "StepRequest",
    "StepStatus",
    "check_container_path",
]


@dataclass(frozen=True, slots=True)
class ResourceLimits:
    """Limits a step asked for; a runner enforces what the machine allows and notes the rest."""

    cpu: float | None = None  # cores, e.g. 0.5
    memory_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.cpu is not None and self.cpu <= 0:
            raise ValueError(f"cpu limit must be positive, got {self.cpu}")
        if self.memory_bytes is not None and self.memory_bytes <= 0:
            raise ValueError(f"memory limit must be positive, got {self.memory_bytes}")


@dataclass(frozen=True, slots=True)
class StepSecurity:
    """Who the step asked to run as: the pod's and container's securityContext, merged.

    The runner decides what it grants (an unprivileged uid when none is asked for, root only when
    its settings allow it); `namespace` lets it give each tenant a uid of its own.
    """

    namespace: str = "default"
    run_as_user: int | None = None
    run_as_group: int | None = None
    supplemental_groups: tuple[int, ...] = ()
    run_as_non_root: bool = False
    privileged: bool = False
    capabilities_add: tuple[str, ...] = ()
    capabilities_drop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("run_as_user", "run_as_group"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < 2**32 - 1:
                raise ValueError(f"securityContext.{_camel(name)} must be a uid in [0, 2^32-2]")
        if self.run_as_non_root and self.run_as_user == 0:
            raise ValueError(
                "securityContext.runAsNonRoot is true but runAsUser is 0; drop one of them"
            )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class VolumeKind(str, Enum):
    """The volume sources a local runner can provide; a `str` mixin since StrEnum needs 3.11."""

    HOST_PATH = "hostPath"  # a host file or directory, bound at the mount path
    EMPTY_DIR = "emptyDir"  # a fresh directory shared by the pod's containers, gone with it
    FILES = "files"  # a ConfigMap's or Secret's keys, written as files (prepared by the engine)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class StepVolume:
    """One volumeMount of the step, with its volume's source resolved to a host path.

    `source` is the host path for HOST_PATH and FILES, unused for EMPTY_DIR (the runner makes
    the directory in the step's workdir).
    """

    name: str
    kind: VolumeKind
    mount_path: str
    source: Path | None = None
    read_only: bool = False
    host_type: str = ""  # a hostPath's `type`: "", Directory(OrCreate), File(OrCreate), ...

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "mount_path", check_container_path(self.mount_path, "volumeMounts.mountPath")
        )
        if self.mount_path == "/":
            raise ValueError(f"volume {self.name!r}: '/' cannot be a mount path")
        if self.kind is not VolumeKind.EMPTY_DIR and self.source is None:
            raise ValueError(f"volume {self.name!r}: a {self.kind} volume needs a host source")


def check_container_path(path: str, what: str) -> str:
    """Return `path` normalised, or raise: container paths are absolute so they mean one thing."""
    if not path.startswith("/"):
        raise ValueError(f"{what} {path!r} must be an absolute container path")
    normal = posixpath.normpath(path)
    if normal.startswith(
        "//"
    ):  # normpath keeps a leading '//' (POSIX allows it); containers do not
        normal = "/" + normal.lstrip("/")
    return normal


@dataclass(frozen=True, slots=True)
class StepRequest:
    """Everything needed to run one attempt of one step, already substituted by the engine.

    Container paths (keys of `input_files`, `output_paths`, `working_dir`) are absolute; the runner
    decides how they map onto the host, so the engine never has to.
    """

    key: str  # unique per attempt, e.g. "<run_id>/<node_id>/<attempt>"
    argv: Sequence[str]  # run without a shell
    env: Mapping[str, str]  # added to the runner's minimal base env, never the engine's own env
    workdir: Path  # host directory owned by this attempt; the runner creates it
    working_dir: str | None = None  # the container's workingDir
    input_files: Mapping[str, Path] = field(default_factory=dict)  # container path -> host file/dir
    output_paths: Sequence[str] = ()  # container paths to collect after exit
    limits: ResourceLimits = ResourceLimits()
    deadline_seconds: float | None = None  # wall clock from start
    security: StepSecurity = StepSecurity()
    volumes: Sequence[StepVolume] = ()

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("a step request needs a non-empty key")
        if not self.argv:
            raise ValueError(f"step {self.key}: argv is empty; a step needs a command to run")
        if self.deadline_seconds is not None and self.deadline_seconds <= 0:
            raise ValueError(
                f"step {self.key}: deadline must be positive, got {self.deadline_seconds}"
            )
        object.__setattr__(self, "argv", tuple(self.argv))
        outputs = tuple(check_container_path(p, "output path") for p in self.output_paths)
        if "/" in outputs:
            raise ValueError(f"step {self.key}: '/' cannot be an output path")
        object.__setattr__(self, "output_paths", outputs)
        inputs = {
            check_container_path(p, "input path"): Path(src) for p, src in self.input_files.items()
        }
        if "/" in inputs:
            raise ValueError(f"step {self.key}: '/' cannot be an input path")
        object.__setattr__(self, "input_files", inputs)
        if self.working_dir is not None:
            object.__setattr__(
                self, "working_dir", check_container_path(self.working_dir, "working_dir")
            )
        object.__setattr__(self, "volumes", tuple(self.volumes))
        mounts = [v.mount_path for v in self.volumes]
        if len(set(mounts)) != len(mounts):
            raise ValueError(f"step {self.key}: two volumeMounts share one mountPath")


class StepOutcome(str, Enum):
    """How a step ended, as observed; a `str` mixin since StrEnum needs 3.11."""

    EXITED = "exited"  # the process exited on its own; see exit_code
    DEADLINE_EXCEEDED = "deadline_exceeded"  # killed because deadline_seconds passed
    OOM_KILLED = "oom_killed"  # killed by the kernel for exceeding its memory limit
    CANCELLED = "cancelled"  # killed because cancel() was called; message is the reason
    LAUNCH_FAILED = "launch_failed"  # never started (missing executable, sandbox error, bad input)
    LOST = (
        "lost"  # a handle from an earlier runner whose process is gone: its exit code is unknowable
    )

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class StepStatus:
    """The facts about a finished step; the engine maps them to a node phase."""

    outcome: StepOutcome
    exit_code: int | None  # 128+N when killed by signal N, as a container runtime reports it
    message: str
    stdout_path: Path
    stderr_path: Path
    outputs: Mapping[
        str, Path | None
    ]  # container path -> collected copy under workdir/outputs, None if missing
    started_at: float  # time.time()
    finished_at: float
    notes: tuple[
        str, ...
    ] = ()  # facts worth showing a user, e.g. a limit that could not be enforced
    # container path -> why the runner refused to read that output (a link out of the step)
    refused_outputs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StepHandle:
    """What the engine keeps to ask about a launched step again, possibly after a restart."""

    key: str
    pid: int  # 0 when the step never started
    workdir: Path
    started_at: float

    def to_json(self) -> str:
        """Serialise for the metadata store; `from_json` is its inverse."""
        return json.dumps(
            {
                "key": self.key,
                "pid": self.pid,
                "workdir": str(self.workdir),
                "started_at": self.started_at,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> StepHandle:
        """Rebuild a handle persisted with `to_json`."""
        data = json.loads(text)
        return cls(
            key=str(data["key"]),
            pid=int(data["pid"]),
            workdir=Path(data["workdir"]),
            started_at=float(data["started_at"]),
        )


@runtime_checkable
class Runner(Protocol):
    """Runs steps and reports facts; the engine drives it from its reconcile loop."""

    def launch(self, request: StepRequest) -> StepHandle:
        """Start the step and return at once; launch failures are reported by `poll`, not raised."""
        ...

    def poll(self, handle: StepHandle) -> StepStatus | None:
        """Return the final status once the step has ended, else None; later calls repeat it."""
        ...

    def cancel(self, handle: StepHandle, reason: str) -> None:
        """Stop the step (SIGTERM, SIGKILL after a grace period); `poll` then reports CANCELLED."""
        ...

    def forget(self, handle: StepHandle) -> None:
        """The engine has recorded the step's end: drop what the runner keeps about it.

        Only after `poll` reported the end; `poll` must not be called with the handle again.
        Without it a runner's memory would grow with every step a long-lived engine runs.
        """
        ...

    def wait(self, timeout: float) -> None:
        """Block until some step may have ended or `timeout` passes, instead of busy-polling."""
        ...

    def close(self, abandon: bool = False) -> None:
        """Stop every running step and release what the runner holds.

        `abandon=True` leaves running steps alone instead: another engine has taken their run
        over and adopts them by their handles.
        """
        ...
