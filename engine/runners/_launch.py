"""Starting one step's process in its filesystem view (overlay or pathmap); see `local.py` for why.

Every spawn happens on a short-lived thread. For the overlay view that thread unshares its own
filesystem context and mount namespace, mounts the step's root, chroots, and then calls
`subprocess.Popen`, whose vfork child inherits exactly that thread's namespace and root. So no
Python code runs between fork and exec (no `preexec_fn`, which would force a full fork of the
engine and cost milliseconds), and the engine's own threads never see any of it. When the thread
ends, the namespace lives on only in the step's processes.
"""

from __future__ import annotations

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
from engine.runners._pathmap import PathMap
from engine.runners._sandbox import (
    CLONE_FS,
    CLONE_NEWNS,
    HOME,
    MS_PRIVATE,
    MS_REC,
    SCRATCH_DIRS,
    Libc,
    MountTable,
    OverlayLayout,
)
from engine.runners._shim import ShimRecords, check_executable, shim_argv
from engine.runners.base import StepRequest

__all__ = ["Launcher", "OutputSource", "Spawned"]

_T = TypeVar("_T")
_SHIM_DIR = "/.kubepipe/bin"
_RECORDS_DIR = "/.kubepipe"  # where an overlay step's shim keeps its pid and exit status


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

    def release(self) -> None:
        """Let the shim run the step, now that it is inside its cgroup and limits."""
        stdin = self.popen.stdin
        assert stdin is not None
        try:
            stdin.write(b"go\n")
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
    """Where an overlay step's shim records land on the host: its root's upper layer."""
    host = layout.writable_host_dir(_RECORDS_DIR)
    if host is None:
        raise ValueError(
            "the sandbox root is a read-only host mount, so a step's exit status could not "
            "be kept; use isolation=pathmap"
        )
    return ShimRecords(host)


def default_passthrough() -> tuple[str, ...]:
    """Host trees a step must see even under its private /tmp: interpreter, engine code."""
    engine_root = str(Path(__file__).resolve().parents[2])
    return tuple(dict.fromkeys([sys.prefix, sys.base_prefix, sys.exec_prefix, engine_root]))


class Launcher:
    """Spawns steps; holds what is the same for every step (libc, PATH, passthrough trees)."""

    def __init__(self, base_env: Mapping[str, str], passthrough: Sequence[str]) -> None:
        self._libc: Libc | None = None
        self._mounts: MountTable | None = None
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

    def spawn_overlay(
        self,
        request: StepRequest,
        stdout: int,
        stderr: int,
        cgroup: StepCgroup | None,
        planned: Callable[[ShimRecords], None],
    ) -> Spawned:
        """Start the step chrooted into a private overlay of the host; raises OSError/ValueError."""
        if self._libc is None:
            self._libc = Libc()
        libc = self._libc
        layout = self._layout(request.workdir)
        layout.prepare(dict(request.input_files), [d for d in (HOME, request.working_dir) if d])
        shim_dir = layout.writable_host_dir(_SHIM_DIR)
        has_shims = shim_dir is not None and self._python_shims(shim_dir)
        env = self._env(HOME, _SHIM_DIR if has_shims else None, request, lambda value: value)
        records = _records_in(layout)
        records.reset()
        planned(records)

        def body() -> Spawned:
            libc.unshare(CLONE_NEWNS | CLONE_FS)
            libc.mount(None, "/", None, MS_REC | MS_PRIVATE)
            view = layout.mount_all(libc)
            try:
                os.chroot(layout.root)
                os.chdir("/")
                cwd = request.working_dir or "/"
                check_executable(request.argv[0], env["PATH"], cwd)
                popen = subprocess.Popen(
                    shim_argv(request.argv, _RECORDS_DIR),
                    cwd=cwd,
                    env=env,
                    stdin=subprocess.PIPE,
                    stdout=stdout,
                    stderr=stderr,
                    start_new_session=True,
                )
            except BaseException:
                view.close()
                raise
            return Spawned(popen, view, records)

        return in_fresh_thread(_inside(cgroup, body))

    def spawn_pathmap(
        self,
        request: StepRequest,
        stdout: int,
        stderr: int,
        cgroup: StepCgroup | None,
        planned: Callable[[ShimRecords], None],
    ) -> Spawned:
        """Start the step on the host with its declared paths rewritten into the workdir."""
        declared = [*request.input_files, *request.output_paths, *SCRATCH_DIRS]
        if request.working_dir:
            declared.append(request.working_dir)
        paths = PathMap(request.workdir / "root", declared, keep=self._passthrough)
        for scratch in SCRATCH_DIRS:
            paths.host(scratch).mkdir(parents=True, exist_ok=True)
        for container_path, source in request.input_files.items():
            copy_in(source, paths.host(container_path))
        cwd = paths.host(request.working_dir) if request.working_dir else paths.root
        cwd.mkdir(parents=True, exist_ok=True)
        home = request.workdir / "home"
        home.mkdir(parents=True, exist_ok=True)
        shim_dir = request.workdir / "bin"
        env = self._env(
            str(home),
            str(shim_dir) if self._python_shims(shim_dir) else None,
            request,
            paths.rewrite,
        )
        env.setdefault("TMPDIR", str(paths.host("/tmp")))
        argv = [paths.rewrite(arg) for arg in request.argv]
        records = self.pathmap_records(request.workdir)
        records.reset()
        planned(records)
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

    def _layout(self, workdir: Path) -> OverlayLayout:
        if self._mounts is None:
            self._mounts = MountTable()
        return OverlayLayout(workdir, self._mounts.current(), self._passthrough)

    def adopted_outputs(self, mode: str, workdir: Path) -> OutputSource:
        """Where a step launched by an earlier runner left its outputs, for collecting them."""
        if mode == "overlay":
            return _UpperSource(self._layout(workdir))
        return _PathmapSource(PathMap(workdir / "root", ()))

    def close(self) -> None:
        """Release the mount table's descriptor."""
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
                probe, subprocess.DEVNULL, subprocess.DEVNULL, None, lambda records: None
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
