"""Starting one step's process in its filesystem view (overlay or pathmap); see `local.py` for why.

Every spawn happens on a short-lived thread. For the overlay view that thread unshares its own
filesystem context, mount namespace and PID namespace (for its children), mounts the step's
root, pivots into it, and then calls `subprocess.Popen`, whose vfork child (the shim, pid 1 of
the new PID namespace) inherits exactly that thread's namespaces and root; the thread then gives
the step its own /proc and detaches the host's tree. So no Python code runs between fork and
exec (no `preexec_fn`, which would force a full fork of the engine and cost milliseconds), and
the engine's own threads never see any of it. When the thread ends, the namespaces live on only
in the step's processes. Who the step runs as is `_identity.py`'s business; the shim drops to
it with `setpriv` just before the step.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from engine.runners._cgroups import StepCgroup
from engine.runners._files import copy_in
from engine.runners._identity import (
    SandboxPolicy,
    StepIdentity,
    StepRefused,
    find_tool,
    resolve_identity,
)
from engine.runners._pathmap import PathMap
from engine.runners._sandbox import (
    CLONE_FS,
    CLONE_NEWNS,
    CLONE_NEWPID,
    HOME,
    MS_PRIVATE,
    MS_REC,
    PROC_FLAGS,
    SCRATCH_DIRS,
    Libc,
    MountEntry,
    MountTable,
    OLD_ROOT,
    OverlayLayout,
    host_top_level,
    make_private_scratch,
    make_whiteout,
)
from engine.runners._shim import LaunchRecord, ShimRecords, check_executable, shim_argv
from engine.runners.base import StepRequest, StepVolume, VolumeKind

__all__ = ["Launcher", "OutputSource", "Spawned"]

_T = TypeVar("_T")
_SHIM_DIR = "/.kubepipe-bin"
# Where an overlay step's shim keeps its pid and exit status: a bind of a root-only (0700) host
# directory of the workdir, outside the step's layers, so that a step which owns its view's `/`
# can neither read nor forge them.
_RECORDS_DIR = "/.kubepipe"


class OutputSource(Protocol):
    """Where a finished step's container paths can be read on the host."""

    def host_path(self, container_path: str) -> str | None: ...

    def close(self) -> None: ...


@dataclass
class _PathmapSource:
    paths: PathMap

    def host_path(self, container_path: str) -> str | None:
        return str(self.paths.host(container_path))

    def close(self) -> None:
        return None


@dataclass
class _UpperSource:
    """An adopted overlay step's outputs, read from its upper layers.

    The engine that mounted the step's view is gone, and the view with it; what the step wrote is
    in the upper layers. A declared output the step did not write itself (a host file under the
    lower layer) is not found this way, which only matters for steps adopted after a crash.
    """

    layout: OverlayLayout

    def host_path(self, container_path: str) -> str | None:
        upper = self.layout.writable_host_dir(container_path)
        if upper is None:
            return container_path  # a host bind mount: the step saw the host's own file
        return str(upper) if os.path.lexists(upper) else None

    def close(self) -> None:
        return None


@dataclass
class Spawned:
    """A started shim, waiting for `release()`, and where to find the step's outputs later."""

    popen: subprocess.Popen[bytes]
    outputs: OutputSource
    records: ShimRecords
    reader: tuple[int, int] | None = None  # read the step's outputs as (uid, gid); None: root

    def release(self) -> None:
        """Let the shim run the step, now that it is inside its cgroup and limits.

        The shim records the pid it is told: inside its own PID namespace it is pid 1, and an
        engine that adopts the step later needs the pid the host sees.
        """
        stdin = self.popen.stdin
        assert stdin is not None
        self.records.spawned(self.popen.pid)
        try:
            stdin.write(f"go {self.popen.pid}\n".encode())
            stdin.close()
        except BrokenPipeError:
            pass  # the shim died already; the reaper reports how


def in_fresh_thread(fn: Callable[[], _T]) -> _T:
    """Run `fn` on a new thread, so per-thread kernel state it changes dies with that thread."""
    box: list[tuple[bool, object]] = []

    def body() -> None:
        try:
            box.append((True, fn()))
        except BaseException as error:  # noqa: BLE001 - re-raised on the caller's thread
            box.append((False, error))

    thread = threading.Thread(target=body, name="kubepipe-spawn")
    thread.start()
    thread.join()
    ok, value = box[0]
    if not ok:
        raise value  # type: ignore[misc]
    return value  # type: ignore[return-value]


def _inside(cgroup: StepCgroup | None, spawn: Callable[[], _T]) -> Callable[[], _T]:
    """Wrap `spawn` so it forks from inside the step's cgroup and leaves it straight after."""
    if cgroup is None:
        return spawn

    def wrapped() -> _T:
        cgroup.join_current_thread()
        try:
            return spawn()
        finally:
            cgroup.leave_current_thread()

    return wrapped


def _records_in(layout: OverlayLayout) -> ShimRecords:
    """Where an overlay step's shim records land on the host (bound at `_RECORDS_DIR`)."""
    return ShimRecords(layout.upper.parent / "records")


_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC


class _Plan:
    """A workdir skeleton as a list of entries relative to the workdir, parents first.

    Built once per isolation mode (and mount table), applied per step by a loop of plain
    syscalls: it runs on the spare builder's thread too, where Python between syscalls holds
    the GIL the engine's thread is waiting for.
    """

    def __init__(self, workdir: Path) -> None:
        self._workdir = workdir
        self.entries: list[tuple[str, str, str]] = []  # (what, relative path, link target)
        self._seen: set[str] = set()
        self.kind = ""

    def _relative(self, path: Path) -> str:
        return path.relative_to(self._workdir).as_posix()

    def directory(self, path: Path, kind: str = "dir") -> None:
        """A directory (and its missing parents), or one of `OverlayLayout.skeleton`'s kinds."""
        rel = self._relative(path)
        if rel in self._seen:
            return
        if path.parent != self._workdir:
            self.directory(path.parent)
        self._seen.add(rel)
        self.entries.append((kind, rel, ""))

    def records(self, directory: Path) -> None:
        """The shim's records, empty (see `ShimRecords.reset`), in a directory only root reads."""
        self.directory(directory, "private")
        self.entries += [("file", self._relative(directory / n), "") for n in ShimRecords._NAMES]

    def python_shims(self, directory: Path, missing: Sequence[str]) -> None:
        """`python`/`python3` links to the engine's interpreter where its directory lacks one."""
        if missing:
            self.directory(directory)
            for name in missing:
                self.entries.append(("link", self._relative(directory / name), sys.executable))

    def done(self, mode: str) -> _Plan:
        for name in ("stdout", "stderr", LaunchRecord.scratch_name()):
            self.entries.append(("file", name, ""))
        digest = hashlib.sha1(repr(self.entries).encode()).hexdigest()[:12]
        self.kind = f"{mode}-{digest}"
        return self

    def apply(self, workdir: Path) -> None:
        """Make the skeleton at `workdir`; idempotent (record files are emptied)."""
        base = os.fspath(workdir)
        os.makedirs(base, exist_ok=True)
        for what, rel, target in self.entries:
            path = f"{base}/{rel}"
            if what == "file":
                os.close(os.open(path, _FILE_FLAGS, 0o644))
            elif what == "link":
                if not os.path.islink(path):
                    os.symlink(target, path)
            elif what == "whiteout":
                make_whiteout(path)
            elif what == "private":
                try:
                    os.mkdir(path, 0o700)
                except FileExistsError:
                    os.chmod(path, 0o700)
            else:
                try:
                    os.mkdir(path)
                except FileExistsError:
                    pass
                if what in ("scratch", "opaque"):
                    make_private_scratch(path, sticky=what == "scratch")


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


def _check_host_path(volume: StepVolume, source: str) -> None:
    """A hostPath's `type`, as the kubelet checks (and, for the *OrCreate types, makes) it."""
    kind = volume.host_type
    if not os.path.lexists(source):
        if kind == "DirectoryOrCreate":
            os.makedirs(source, mode=0o755, exist_ok=True)
        elif kind == "FileOrCreate":
            os.close(os.open(source, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
        else:
            raise StepRefused(
                f"volumes {volume.name!r}: hostPath {source} does not exist on this machine "
                "(create it, or give type: DirectoryOrCreate)"
            )
    if kind in ("Directory", "DirectoryOrCreate") and not os.path.isdir(source):
        raise StepRefused(f"volumes {volume.name!r}: hostPath {source} is not a directory")
    if kind in ("File", "FileOrCreate") and not os.path.isfile(source):
        raise StepRefused(f"volumes {volume.name!r}: hostPath {source} is not a file")


def default_passthrough() -> tuple[str, ...]:
    """Host trees a step must see even under its private /tmp: interpreter, engine code."""
    engine_root = str(Path(__file__).resolve().parents[2])
    return tuple(dict.fromkeys([sys.prefix, sys.base_prefix, sys.exec_prefix, engine_root]))


class Launcher:
    """Spawns steps; holds what is the same for every step (libc, PATH, passthrough trees)."""

    def __init__(
        self,
        base_env: Mapping[str, str],
        passthrough: Sequence[str],
        policy: SandboxPolicy | None = None,
    ) -> None:
        self._policy = policy or SandboxPolicy()
        self._setpriv = find_tool("setpriv")
        self._unshare = find_tool("unshare")
        self._user_namespaces: bool | None = None
        self._top_level: list[tuple[str, bool]] | None = None
        self._libc: Libc | None = None
        self._mounts: MountTable | None = None
        self._mounts_lock = threading.Lock()  # the spare builder's thread lays out sandboxes too
        self._overlay_plan: tuple[object, _Plan] | None = None
        self._pathmap: _Plan | None = None
        self._passthrough = tuple(passthrough)
        self._base_env = dict(base_env)
        interpreter = Path(sys.executable) if sys.executable else None
        path = os.environ.get("PATH", os.defpath).split(os.pathsep)
        if interpreter is not None:
            path = [str(interpreter.parent), *(p for p in path if p != str(interpreter.parent))]
        self._path = os.pathsep.join(path)
        self._missing_python = [
            name
            for name in ("python", "python3")
            if interpreter is not None and not os.access(interpreter.parent / name, os.X_OK)
        ]

    def _env(
        self,
        home: str,
        path_prefix: str | None,
        request: StepRequest,
        rewrite: Callable[[str], str],
    ) -> dict[str, str]:
        path = f"{path_prefix}{os.pathsep}{self._path}" if path_prefix else self._path
        env = {"PATH": path, "HOME": home, "LANG": "C.UTF-8", **self._base_env}
        env.update({name: rewrite(value) for name, value in request.env.items()})
        return env

    def _python_shims(self, directory: Path) -> bool:
        """Make `python`/`python3` mean the engine's interpreter where its directory lacks one."""
        if not self._missing_python:
            return False
        directory.mkdir(parents=True, exist_ok=True)
        for name in self._missing_python:
            link = directory / name
            if not link.is_symlink():
                link.symlink_to(sys.executable)
        return True

    def kind(self, mode: str) -> str:
        """Names what `skeleton(workdir, mode)` makes now; cheap, for matching prepared ones."""
        return self._plan(mode).kind

    def _plan(self, mode: str) -> _Plan:
        """The skeleton for `mode`, made once per mount table (per mode) and then reused."""
        if mode != "overlay":
            return self._pathmap_plan()
        mounts = self._mount_table().current()
        cached = self._overlay_plan
        if cached is None or cached[0] is not mounts:
            self._top_level = None  # a mount or unmount may have come with a new top-level dir
            layout = self._layout(Path("/kubepipe-plan/w"), mounts)
            cached = self._overlay_plan = (mounts, self._plan_of(layout))
        return cached[1]

    def skeleton(self, workdir: Path, mode: str) -> str:
        """Make what every step's workdir holds in `mode`, whatever the step; returns its kind.

        Idempotent. A launch calls it on the workdir itself, or takes a workdir that a
        `SparePool` made with it ahead of time; `spawn_*(prepared=kind)` then adds only the
        step's own part (inputs, working dir). `outputs/` is made when there are some.
        """
        plan = self._plan(mode)
        plan.apply(workdir)
        return plan.kind

    def _plan_of(self, layout: OverlayLayout) -> _Plan:
        plan = _Plan(layout.upper.parent)
        for path, kind in layout.skeleton():
            plan.directory(path, kind)
        for extra in (HOME, _RECORDS_DIR, OLD_ROOT):
            host = layout.writable_host_dir(extra)
            if host is not None:
                plan.directory(host)
        plan.records(_records_in(layout).directory)
        shim_dir = layout.writable_host_dir(_SHIM_DIR)
        if shim_dir is not None:
            plan.python_shims(shim_dir, self._missing_python)
        return plan.done("overlay")

    def _pathmap_plan(self) -> _Plan:
        if self._pathmap is None:
            workdir = Path("/kubepipe-plan/w")
            plan = _Plan(workdir)
            for scratch in SCRATCH_DIRS:  # as PathMap.host places them
                plan.directory(workdir / "root" / scratch.lstrip("/"))
            plan.directory(workdir / "home")
            plan.records(self.pathmap_records(workdir).directory)
            plan.python_shims(workdir / "bin", self._missing_python)
            self._pathmap = plan.done("pathmap")
        return self._pathmap

    def spawn_overlay(
        self,
        request: StepRequest,
        stdout: int,
        stderr: int,
        cgroup: StepCgroup | None,
        planned: Callable[[ShimRecords, tuple[int, int] | None], None],
        prepared: str | None = None,
    ) -> Spawned:
        """Start the step in its sandbox (`_sandbox.OverlayLayout`); raises OSError/ValueError.

        `prepared` is the kind of skeleton already in the workdir (see `skeleton`); a skeleton
        of another kind (the host's mounts changed since) is completed here.
        """
        if self._libc is None:
            self._libc = Libc()
        libc = self._libc
        identity = self._identity(request)
        plan = self._plan("overlay")
        if prepared != plan.kind:
            plan.apply(request.workdir)
        layout = self._layout(request.workdir)
        owner = (identity.uid, identity.gid)
        layout.place(dict(request.input_files), self._step_dirs(request), owner)
        layout.resolver()
        if not identity.privileged:
            layout.hand_over(owner, [HOME])
        volumes = self._volumes(request, layout)
        shim_dir = layout.writable_host_dir(_SHIM_DIR)
        has_shims = shim_dir is not None and bool(self._missing_python)
        env = self._env(HOME, _SHIM_DIR if has_shims else None, request, lambda value: value)
        records = _records_in(layout)
        reader = None if identity.privileged else owner
        planned(records, reader)
        drop = self._drop_argv(identity)
        binds = [(str(records.directory), _RECORDS_DIR, False), *volumes]

        def body() -> Spawned:
            libc.unshare(CLONE_NEWNS | CLONE_FS | CLONE_NEWPID)
            libc.mount(None, "/", None, MS_REC | MS_PRIVATE)
            held: list[int] = []
            try:
                view = layout.mount_all(libc, self._pin_host_paths(request, binds, held))
            finally:
                _close_all(held)
            try:
                libc.pivot_root(str(layout.root), str(layout.root) + OLD_ROOT)
                os.chdir("/")
                cwd = request.working_dir or "/"
                check_executable(request.argv[0], env["PATH"], cwd)
                popen = subprocess.Popen(
                    shim_argv([*drop, *request.argv], _RECORDS_DIR),
                    cwd=cwd,
                    env=env,
                    stdin=subprocess.PIPE,
                    stdout=stdout,
                    stderr=stderr,
                    start_new_session=True,
                )
                try:
                    self._mount_proc(libc, popen, f"{OLD_ROOT}/proc/{popen.pid}/ns/pid")
                    libc.umount_detached(OLD_ROOT)  # the host's tree leaves the step's namespace
                except BaseException:
                    popen.kill()  # the shim is still waiting for its go-ahead: nothing ran
                    popen.wait()
                    raise
            except BaseException:
                view.close()
                raise
            return Spawned(popen, view, records, reader)

        return in_fresh_thread(_inside(cgroup, body))

    @staticmethod
    def _mount_proc(libc: Libc, popen: subprocess.Popen[bytes], pidns: str) -> None:
        """The step's own /proc: of its PID namespace, so it sees its own processes only.

        procfs shows the PID namespace of whoever mounts it; the kernel's `pidns=` option (6.15+)
        lets the engine name the shim's instead. Older kernels get the mount done by a helper
        spawned into that namespace (this thread's children land there since the unshare).
        """
        target = "/proc"
        try:
            libc.mount("proc", target, "proc", PROC_FLAGS, f"pidns={pidns}")
            return
        except OSError as error:
            if error.errno != errno.EINVAL:
                raise
        mount = shutil.which("mount", path="/usr/bin:/bin")
        if mount is None:
            raise OSError(errno.ENOENT, "no mount(8) to give the step its own /proc")
        subprocess.run(
            [mount, "-t", "proc", "-o", "nosuid,nodev,noexec", "proc", target],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def _identity(self, request: StepRequest) -> StepIdentity:
        identity = resolve_identity(self._policy, request.security, self.user_namespaces())
        if self._setpriv is None and not identity.privileged:
            raise StepRefused(
                "setpriv (util-linux) is not installed, so the step could not be made "
                "unprivileged; install util-linux, or use isolation=pathmap"
            )
        return identity

    def _drop_argv(self, identity: StepIdentity) -> list[str]:
        if self._setpriv is None:
            return []
        return identity.drop_argv(self._setpriv, self._unshare)

    def user_namespaces(self) -> bool:
        """Whether an unprivileged uid may make a user namespace here; probed once.

        Kernels and distributions may forbid it (`user.max_user_namespaces=0`, Debian's old
        `kernel.unprivileged_userns_clone=0`, AppArmor's restriction on Ubuntu 24.04).
        """
        if self._user_namespaces is None:
            self._user_namespaces = self._probe_user_namespaces()
        return self._user_namespaces

    def _probe_user_namespaces(self) -> bool:
        if self._setpriv is None or self._unshare is None or os.geteuid() != 0:
            return False
        uid = self._policy.namespace_uid("default")
        probe = StepIdentity(uid=uid, gid=uid, inner_uid=0, inner_gid=0)
        try:
            done = subprocess.run(
                [*probe.drop_argv(self._setpriv, self._unshare), "true"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return False
        return done.returncode == 0

    @staticmethod
    def _step_dirs(request: StepRequest) -> list[str]:
        """Dirs made for the step before it starts: its working dir, as a kubelet makes it.

        Its outputs' folders are not: a step that runs `mkdir /mnt/out` (Argo's examples do)
        must not find it made. It can make them, as the owner of its view's `/`.
        """
        return [d for d in (request.working_dir,) if d]

    def _volumes(
        self, request: StepRequest, layout: OverlayLayout
    ) -> list[tuple[str, str, bool]]:
        """Check each volume against the policy and make its mount point; (source, path, ro).

        A hostPath is checked here as named, and again, as it really is, by `_pin_host_paths`
        in the step's mount namespace just before its bind.
        """
        binds: list[tuple[str, str, bool]] = []
        for volume in request.volumes:
            source = self._volume_source(volume)
            target = layout.writable_host_dir(volume.mount_path)
            if target is None:
                raise StepRefused(
                    f"volumeMounts {volume.name!r}: {volume.mount_path} is inside a read-only host "
                    "mount of the step's view; mount it somewhere else"
                )
            if os.path.isdir(source):
                target.mkdir(parents=True, exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.close(os.open(target, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
            binds.append((source, volume.mount_path, volume.read_only))
        return binds

    def _volume_source(self, volume: StepVolume) -> str:
        assert volume.source is not None
        source = os.path.normpath(volume.source)
        if volume.kind is VolumeKind.EMPTY_DIR:
            os.makedirs(source, exist_ok=True)
            os.chmod(source, 0o777)  # as a kubelet makes an emptyDir: any uid may write
        elif volume.kind is VolumeKind.HOST_PATH:
            self._allowed_host_path(volume.name, source, source)
            _check_host_path(volume, source)
        return source

    def _allowed_host_path(self, name: str, source: str, real: str) -> None:
        if not self._policy.host_path_allowed(real):
            allowed = ", ".join(self._policy.host_paths or ()) or "none"
            shown = source if real == source else f"{source} (which is {real})"
            raise StepRefused(
                f"volumes {name!r}: hostPath {shown} is not in this server's allowed "
                f"host paths ({allowed}); the operator can allow it with --allow-host-path"
            )

    def _pin_host_paths(
        self, request: StepRequest, binds: list[tuple[str, str, bool]], held: list[int]
    ) -> list[tuple[str, str, bool, str]]:
        """Open each hostPath and bind it through that descriptor, checked where it really is.

        Called in the step's mount namespace (a bind's source must be of the same namespace).
        The kernel resolves links once, in the open; the check reads what was opened: a tenant
        who swaps a directory of an allowed path for a link in between binds nothing else.
        """
        kinds = {v.mount_path: v for v in request.volumes}
        pinned = []
        for source, path, read_only in binds:
            volume = kinds.get(path)
            shown = source
            if volume is not None and volume.kind is VolumeKind.HOST_PATH:
                fd = os.open(source, os.O_PATH | os.O_CLOEXEC)
                held.append(fd)
                shown = os.readlink(f"/proc/self/fd/{fd}")
                self._allowed_host_path(volume.name, source, shown)
                source = f"/proc/self/fd/{fd}"
            pinned.append((source, path, read_only, shown))
        return pinned

    def spawn_pathmap(
        self,
        request: StepRequest,
        stdout: int,
        stderr: int,
        cgroup: StepCgroup | None,
        planned: Callable[[ShimRecords, tuple[int, int] | None], None],
        prepared: str | None = None,
    ) -> Spawned:
        """Start the step on the host with its declared paths rewritten into the workdir.

        `prepared`: as for `spawn_overlay`.
        """
        plan = self._plan("pathmap")
        if prepared != plan.kind:
            plan.apply(request.workdir)
        declared = [*request.input_files, *request.output_paths, *SCRATCH_DIRS]
        if request.working_dir:
            declared.append(request.working_dir)
        paths = PathMap(request.workdir / "root", declared, keep=self._passthrough)
        for container_path, source in request.input_files.items():
            copy_in(source, paths.host(container_path))
        cwd = paths.root
        if request.working_dir:
            cwd = paths.host(request.working_dir)
            cwd.mkdir(parents=True, exist_ok=True)
        home = request.workdir / "home"
        shim_dir = request.workdir / "bin"
        env = self._env(
            str(home),
            str(shim_dir) if self._missing_python else None,
            request,
            paths.rewrite,
        )
        env.setdefault("TMPDIR", str(paths.host("/tmp")))
        argv = [paths.rewrite(arg) for arg in request.argv]
        records = self.pathmap_records(request.workdir)
        planned(records, None)
        check_executable(argv[0], env["PATH"], str(cwd))

        def body() -> Spawned:
            popen = subprocess.Popen(
                shim_argv(argv, str(records.directory)),
                cwd=cwd,
                env=env,
                stdin=subprocess.PIPE,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
            )
            return Spawned(popen, _PathmapSource(paths), records)

        return in_fresh_thread(_inside(cgroup, body)) if cgroup is not None else body()

    @staticmethod
    def pathmap_records(workdir: Path) -> ShimRecords:
        return ShimRecords(workdir / ".kubepipe")

    def _mount_table(self) -> MountTable:
        with self._mounts_lock:
            if self._mounts is None:
                self._mounts = MountTable()
            return self._mounts

    def _layout(self, workdir: Path, mounts: list[MountEntry] | None = None) -> OverlayLayout:
        if self._top_level is None:
            self._top_level = host_top_level()
        return OverlayLayout(
            workdir,
            self._mount_table().current() if mounts is None else mounts,
            self._passthrough,
            runtime=self._policy.runtime_paths,
            hidden=self._policy.hidden_paths,
            top_level=self._top_level,
        )

    def as_reader(self, reader: tuple[int, int] | None, fn: Callable[[], _T]) -> _T:
        """Run `fn` (reading a step's outputs) with the step's own file rights.

        The runner is root and reads through the step's view, where the host's runtime trees
        show: read as root, an output declared at /etc/shadow would be collected and served.
        Read as the step, it is refused as it was to the step.
        """
        if reader is None:
            return fn()
        if self._libc is None:
            self._libc = Libc()
        libc = self._libc

        def body() -> _T:
            libc.become_filesystem_user(*reader)
            return fn()

        return in_fresh_thread(body)

    def adopted_outputs(self, mode: str, workdir: Path) -> OutputSource:
        """Where a step launched by an earlier runner left its outputs, for collecting them."""
        if mode == "overlay":
            return _UpperSource(self._layout(workdir))
        return _PathmapSource(PathMap(workdir / "root", ()))

    def close(self) -> None:
        """Release the mount table's descriptor."""
        with self._mounts_lock:
            if self._mounts is not None:
                self._mounts.close()
                self._mounts = None

    def probe_overlay(self, scratch: Path) -> str | None:
        """Try a real overlay spawn of a no-op; None if it works, else why not."""
        if sys.platform != "linux":
            return "overlay isolation needs Linux"
        if os.geteuid() != 0:
            return "overlay isolation needs root (mount namespaces and overlayfs)"
        noop = shutil.which("true") or sys.executable
        argv = [noop] if noop != sys.executable else [noop, "-S", "-c", ""]
        probe = StepRequest(key="overlay-probe", argv=argv, env={}, workdir=scratch)
        try:
            spawned = self.spawn_overlay(
                probe, subprocess.DEVNULL, subprocess.DEVNULL, None, lambda records, reader: None
            )
            spawned.release()
            try:
                code = spawned.popen.wait(timeout=10)
                root = spawned.outputs.host_path("/")
                readable = root is not None and os.path.isdir(root)
            finally:
                spawned.outputs.close()
        except (OSError, ValueError, subprocess.SubprocessError) as error:
            return f"overlay isolation unavailable: {error}"
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        if code != 0 or not readable:
            return f"overlay isolation probe failed (exit code {code})"
        return None
