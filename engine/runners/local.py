"""Run each step as a local process with a pod's contract: own files, declared I/O, limits.

Filesystem isolation has two modes, chosen once per runner (`isolation="auto"` probes on the first
launch by really starting a sandboxed no-op, and caches the answer on the runner):

* **overlay** (root on Linux, overlayfs and mount namespaces allowed). The step runs in a
  sandbox that contains a tenant: its root (entered with pivot_root) is an overlay whose lower
  layer shows only the host's runtime trees (the "image": /usr, /etc, ...) and whose upper layer
  is `<workdir>/upper`; its own mount and PID namespaces, /proc and /dev; an unprivileged uid of
  its namespace with no capabilities (`_identity.py`); `/tmp`, `/var/tmp` and `/dev/shm` start
  empty; see `_sandbox.py`. Every write the step makes, declared or not, lands in its workdir:
  two parallel steps writing `/tmp/out.txt` never clash and the host's `/tmp` is never touched.
  Its outputs are read with its own file rights.
* **pathmap** (anything else: not root, no overlayfs, a container without CAP_SYS_ADMIN). Each
  declared container path (inputs, outputs, working dir, and `/tmp`, `/var/tmp`) lives at
  `<workdir>/root/<path>`, and argv and env values are rewritten to match (`_pathmap.py`);
  `HOME` and `TMPDIR` point into the workdir. What it cannot hide: a step that writes an absolute
  path that is neither declared nor under `/tmp` (say `/data/x` built at run time, or a path
  assembled by a program from pieces) writes the real host path, and a step can read anything
  on the host. Host paths are pasted into command strings, so the workdir path should hold no
  whitespace or shell metacharacters.

Measured on the development VM (2 vCPU, Linux 6.x, a noisy shared machine; 5 rounds of 50 runs
of `true`, launch + wait + poll, median of round means, best round in brackets): bare
`subprocess.run(["true"])` 1.0 ms (0.8); pathmap 1.5 ms (1.2); overlay 2.7 ms (2.3); overlay
with a memory cgroup 4.7 ms (3.7). Inside overlay's share: unshare 0.1 ms, overlay mount
0.25 ms, bind mounts ~0.1 ms, workdir skeleton (~8 mkdirs) 0.3-0.4 ms, spawn thread 0.15 ms,
unmount on poll 0.12 ms (the `volatile` option; 0.6 ms without). The namespace work runs on
a throwaway thread before a vfork-based `Popen`, not in a `preexec_fn`: any `preexec_fn`, even
an empty one, forces a real fork of the engine, which cost 2-3 ms here on its own, and an
exec'd helper (`python -I -S -m ...`) costs about 20 ms.

The workdir skeleton is about twenty new inodes (the layer and scratch dirs, stdio files, the
shim's record files and the launch record's scratch file, all made empty up front so the
step's own path only truncates them). Where the disk makes inodes slowly (the same VM later:
ext4 without a journal, 0.05 ms per mkdir when quiet, 0.3-1 ms for a minute or more after many
deletions anywhere on it) that is most of a launch. So the skeleton is a plan computed once
per mode and mount table and applied by a loop of bare syscalls, and `prepare_ahead` has
skeletons built ahead on a background thread that a launch renames into place
(`_spares.py`); that thread also performs each finished overlay's unmount.

Limits: memory and CPU go into a per-step cgroup (v1 or v2) under the runner's own cgroup when
it is writable; the OOM killer's verdict is read back as OOM_KILLED. Without a cgroup, memory
falls back to RLIMIT_AS set right after spawn (a step over it sees allocation failures and
usually exits non-zero: EXITED), and a CPU limit is not applied; both are said in
`StepStatus.notes`. The deadline and `cancel()` send SIGTERM to the step's process group and
SIGKILL after `kill_grace_seconds`. When a step's main process exits, the rest of its process
group (and of its cgroup) is killed, as a container's processes die with its PID 1.
"""

from __future__ import annotations

import itertools
import os
import resource
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from engine.runners._cgroups import CgroupSupport, StepCgroup
from engine.runners._files import (
    OutputRefused,
    copy_below,
    open_output_base,
    output_name,
    safe_name,
)
from engine.runners._identity import SandboxPolicy
from engine.runners._launch import Launcher, OutputSource, default_passthrough
from engine.runners._process import is_same_process, signal_group
from engine.runners._reaper import Reaper
from engine.runners._sandbox import OverlayView
from engine.runners._shim import LaunchRecord, ShimRecords
from engine.runners._spares import AHEAD, SparePool
from engine.runners._status import build_status, launch_failure_message, lost_status
from engine.runners.base import (
    ResourceLimits,
    StepHandle,
    StepRequest,
    StepSecurity,
    StepStatus,
)

__all__ = ["LocalRunner", "LocalRunnerSettings"]


@dataclass(frozen=True)
class LocalRunnerSettings:
    """How a LocalRunner isolates and stops steps; built by the entrypoint and passed in.

    Attributes:
        isolation: "auto" probes once; "overlay"/"pathmap" force a mode (a forced overlay that
            cannot work makes every launch LAUNCH_FAILED, rather than silently isolating less).
        kill_grace_seconds: SIGTERM to SIGKILL, like a pod's terminationGracePeriodSeconds.
        use_cgroups: False forces the RLIMIT_AS fallback (tests, machines shared with others).
        base_env: added to every step's env before the step's own (e.g. PYTHONPATH).
        passthrough_paths: more host trees to keep visible under the private /tmp (overlay) or
            never to rewrite (pathmap); the interpreter and the engine's code always are.
        prepare_ahead: workdir skeletons to keep built ahead of launches, per directory that
            receives a new step directory per launch (see `_spares.py`); 0 builds each one
            during its launch.
        sandbox: who steps run as and what of the host they see (overlay isolation); see
            `_identity.SandboxPolicy`.
    """

    isolation: Literal["auto", "overlay", "pathmap"] = "auto"
    kill_grace_seconds: float = 10.0
    use_cgroups: bool = True
    base_env: dict[str, str] = field(default_factory=dict)
    passthrough_paths: tuple[str, ...] = ()
    prepare_ahead: int = AHEAD
    sandbox: SandboxPolicy = field(default_factory=SandboxPolicy)


@dataclass
class _Step:
    """Mutable bookkeeping for one launched step; guarded by the runner's lock."""

    handle: StepHandle
    request: StepRequest | None  # None for a handle from an earlier runner that left no record
    popen: subprocess.Popen[bytes] | None = None  # None when adopted: not our child
    records: ShimRecords | None = None
    outputs: OutputSource | None = None
    cgroup: StepCgroup | None = None
    notes: list[str] = field(default_factory=list)
    launch_error: str | None = None
    lost_reason: str | None = None
    returncode: int | None = None
    finished_at: float | None = None
    cancel_reason: str | None = None
    deadline_hit: bool = False
    status: StepStatus | None = None
    reader: tuple[int, int] | None = None  # (uid, gid) its outputs are read as; None: root
    finalize_lock: threading.Lock = field(default_factory=threading.Lock)


# A stop within _EXEC_WINDOW s of the launch repeats its SIGTERM after _RETERM_AFTER s (_terminate).
_EXEC_WINDOW = 2.0
_RETERM_AFTER = 0.3

_NO_STATUS = "ended without recording an exit status"
_SHIM_DECISION_SECONDS = 5.0  # a shim that lost its runner reads EOF at once; this is slack  # killed with its shim, or before it ran


def _pathmap_notes(request: StepRequest) -> list[str]:
    """What path mapping cannot give a step that asked for it (overlay isolation can)."""
    notes = []
    if request.volumes:
        names = ", ".join(v.name for v in request.volumes)
        notes.append(f"volumes not mounted: isolation=pathmap cannot mount ({names})")
    if request.security != StepSecurity(namespace=request.security.namespace):
        notes.append("securityContext not applied: with isolation=pathmap steps run as the engine")
    return notes


def _launch_record(
    request: StepRequest,
    mode: str,
    cgroup: StepCgroup | None,
    records: ShimRecords,
    started_at: float,
    reader: tuple[int, int] | None,
) -> LaunchRecord:
    """What a later runner needs to adopt this step; written just before the spawn."""
    return LaunchRecord(
        key=request.key,
        mode=mode,
        argv0=request.argv[0],
        records_dir=str(records.directory),
        output_paths=tuple(request.output_paths),
        deadline_seconds=request.deadline_seconds,
        memory_bytes=request.limits.memory_bytes,
        cgroup_v1_dirs=tuple(str(d) for d in cgroup.v1_dirs) if cgroup else (),
        cgroup_v2_dir=str(cgroup.v2_dir) if cgroup and cgroup.v2_dir else None,
        written_at=started_at,
        reader=reader,
    )


class LocalRunner:
    """Runs steps as sandboxed local processes; see the module docstring for the contract."""

    def __init__(self, settings: LocalRunnerSettings | None = None) -> None:
        self.settings = settings or LocalRunnerSettings()
        self._lock = threading.Lock()
        self._finished = threading.Condition(self._lock)
        self._steps: dict[str, _Step] = {}
        self._unpolled: set[str] = set()
        self._closed = False
        self._mode: str | None = (
            None if self.settings.isolation == "auto" else self.settings.isolation
        )
        self._mode_reason = "" if self._mode is None else f"isolation={self._mode} was configured"
        self._mode_lock = threading.Lock()
        self._cgroups = CgroupSupport()
        self._launch_counter = itertools.count()
        self._launcher = Launcher(
            self.settings.base_env,
            (*default_passthrough(), *self.settings.passthrough_paths),
            self.settings.sandbox,
        )
        self._reaper = Reaper()
        self._spares = SparePool(self._launcher.skeleton, self.settings.prepare_ahead)

    @property
    def isolation(self) -> str:
        """The isolation in use ("overlay"/"pathmap"), or "auto" before the first launch."""
        return self._mode or "auto"

    @property
    def isolation_reason(self) -> str:
        """Why that isolation was chosen, e.g. why overlay was not available."""
        return self._mode_reason

    def _resolve_mode(self, workdir: Path) -> str:
        with self._mode_lock:
            if self._mode is None:
                reason = self._launcher.probe_overlay(workdir / ".overlay-probe")
                self._mode, self._mode_reason = (
                    ("pathmap", reason) if reason else ("overlay", "probe succeeded")
                )
            return self._mode

    def launch(self, request: StepRequest) -> StepHandle:
        """Start the step; errors starting it become a LAUNCH_FAILED status, never an exception."""
        with self._lock:
            if self._closed:
                raise RuntimeError("this LocalRunner is closed")
            existing = self._steps.get(request.key)
            if existing is not None and existing.finished_at is None:
                raise ValueError(
                    f"step {request.key} is already running; keys must be unique per attempt"
                )
        earlier = LaunchRecord.read(request.workdir)
        if earlier is not None and earlier.key == request.key:
            adopted = self._adopt_launched(earlier, request.workdir)
            if adopted is not None:
                return adopted.handle
            shutil.rmtree(request.workdir)  # it never started: launch it afresh
        started_at = time.time()
        step = _Step(StepHandle(request.key, 0, request.workdir, started_at), request)
        stdio: list[int] = []
        try:
            mode = self._resolve_mode(request.workdir)
            prepared = self._launcher.kind(mode)
            if not (
                not os.path.lexists(request.workdir)
                and self._spares.take(request.workdir, mode, prepared)
            ):
                prepared = self._launcher.skeleton(request.workdir, mode)
            for name in ("stdout", "stderr"):
                flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
                stdio.append(os.open(request.workdir / name, flags, 0o644))
            step.cgroup = self._make_cgroup(request, step.notes)
            if mode == "pathmap":
                step.notes += _pathmap_notes(request)
            spawn = (
                self._launcher.spawn_overlay if mode == "overlay" else self._launcher.spawn_pathmap
            )
            cgroup = step.cgroup
            spawned = spawn(
                request,
                stdio[0],
                stdio[1],
                cgroup,
                lambda records, reader: _launch_record(
                    request, mode, cgroup, records, started_at, reader
                ).write(request.workdir),
                prepared,
            )
        except Exception as error:  # noqa: BLE001 - reported as LAUNCH_FAILED, which is a fact
            step.launch_error = launch_failure_message(request, error)
        finally:
            for fd in stdio:
                os.close(fd)
        if step.launch_error is not None:
            return self._record_launch_failure(step)
        step.popen, step.outputs, step.records = spawned.popen, spawned.outputs, spawned.records
        step.reader = spawned.reader
        pid = spawned.popen.pid
        self._limit_after_spawn(step, request, pid)
        spawned.release()
        step.handle = StepHandle(request.key, pid, request.workdir, started_at)
        with self._lock:
            self._steps[request.key] = step
        self._reaper.watch(pid, lambda: self._on_exit(step))
        if request.deadline_seconds is not None:
            self._reaper.call_at(
                time.monotonic() + request.deadline_seconds, lambda: self._on_deadline(step)
            )
        return step.handle

    def _make_cgroup(self, request: StepRequest, notes: list[str]) -> StepCgroup | None:
        limits = request.limits
        if limits.memory_bytes is None and limits.cpu is None:
            return None
        cgroup = None
        if self.settings.use_cgroups:
            # Unique per engine process and launch: two engines (or tests) may reuse a key.
            name = f"{os.getpid()}.{next(self._launch_counter)}.{safe_name(request.key)}"
            cgroup = self._cgroups.create(name, limits)
        if limits.cpu is not None and (cgroup is None or cgroup.cpu is None):
            notes.append(f"cpu limit of {limits.cpu:g} cores not applied: no writable cpu cgroup")
        if limits.memory_bytes is not None and (cgroup is None or cgroup.memory is None):
            notes.append(
                f"memory limit of {limits.memory_bytes} bytes enforced as an address-space rlimit, "
                "not a cgroup: the step sees failed allocations instead of being OOM-killed"
            )
        return cgroup

    def _limit_after_spawn(self, step: _Step, request: StepRequest, pid: int) -> None:
        memory = request.limits.memory_bytes
        try:
            if step.cgroup is not None:
                step.cgroup.join_process(pid)
            if memory is not None and (step.cgroup is None or step.cgroup.memory is None):
                resource.prlimit(pid, resource.RLIMIT_AS, (memory, memory))
        except (OSError, ValueError) as error:  # it may have exited already: note it, go on
            step.notes.append(f"could not apply limits: {error}")

    def _record_launch_failure(self, step: _Step) -> StepHandle:
        if step.cgroup is not None:
            step.cgroup.remove()
        step.finished_at = time.time()
        with self._finished:
            self._steps[step.handle.key] = step
            self._unpolled.add(step.handle.key)
            self._finished.notify_all()
        return step.handle

    def _on_exit(self, step: _Step) -> None:
        """Reaper thread: our child exited but is not reaped, so its group id is still ours.

        Killing the rest of the group now is what makes a step end like a container: nothing it
        started outlives it. An adopted process is not our child and is already reaped, so its
        pid may be reused and is left alone.
        """
        returncode = None
        if step.popen is not None:
            signal_group(step.handle.pid, signal.SIGKILL)
            returncode = step.popen.wait()
        recorded = step.records.returncode() if step.records is not None else None
        with self._finished:
            # The shim's record is the step's own status; the shim's is only a fallback for
            # when it was killed with the step (SIGKILL to the group) and could not write it.
            step.returncode = recorded if recorded is not None else returncode
            step.finished_at = time.time()
            if step.popen is None and recorded is None and step.lost_reason is None:
                step.lost_reason = f"it was started by an earlier runner and {_NO_STATUS}"
            self._unpolled.add(step.handle.key)
            self._finished.notify_all()

    def _on_deadline(self, step: _Step) -> None:
        with self._lock:
            if step.finished_at is not None or step.cancel_reason is not None:
                return
            step.deadline_hit = True
        self._terminate(step)

    def _terminate(self, step: _Step) -> None:
        signal_group(step.handle.pid, signal.SIGTERM)
        now = time.monotonic()
        if time.time() - step.handle.started_at < _EXEC_WINDOW:
            # Between the shim's fork and the step's exec the child still runs the shim's TERM
            # trap, so a SIGTERM landing in that instant is swallowed and the step would end only
            # at SIGKILL, 137 instead of 143. A step that young is said it again once it has
            # surely exec'd; an older one hears it once, as a pod does.
            self._reaper.call_at(now + _RETERM_AFTER, lambda: self._resignal(step))
        self._reaper.call_at(now + self.settings.kill_grace_seconds, lambda: self._force_kill(step))

    def _resignal(self, step: _Step) -> None:
        with self._lock:
            if step.finished_at is not None:
                return
        signal_group(step.handle.pid, signal.SIGTERM)

    def _force_kill(self, step: _Step) -> None:
        with self._lock:
            if step.finished_at is not None:
                return
        signal_group(step.handle.pid, signal.SIGKILL)
        if step.cgroup is not None:
            step.cgroup.kill_all()

    def poll(self, handle: StepHandle) -> StepStatus | None:
        """None while running; then the cached status, with outputs collected on the first call."""
        step = self._step_for(handle)
        with self._lock:
            if step.finished_at is None:
                return None
        with step.finalize_lock:
            if step.status is None:
                step.status = self._finalize(step)
        with self._lock:
            self._unpolled.discard(handle.key)
        return step.status

    def _collect(
        self, step: _Step, request: StepRequest
    ) -> tuple[dict[str, Path | None], dict[str, str]]:
        """Copy the step's outputs out of its view, read with the step's own rights."""
        outputs: dict[str, Path | None] = {}
        refused: dict[str, str] = {}
        if not request.output_paths:
            return outputs, refused
        collected = request.workdir / "outputs"
        collected.mkdir(exist_ok=True)
        if step.reader is not None:
            os.chown(collected, *step.reader)  # the copies are written as the step, too
        # Reached through a descriptor: the step's uid may not traverse the engine's folders.
        into = os.open(collected, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

        # Each output's base (the runner's handle on the step's view) is opened as the runner:
        # the step's uid may not traverse the engine's folders. Below it, as the step.
        bases: dict[str, tuple[int, list[str]]] = {}
        for container_path in request.output_paths:
            source = step.outputs.host_path(container_path) if step.outputs else None
            outputs[container_path] = None
            mount = (
                step.outputs.layer(container_path)
                if isinstance(step.outputs, OverlayView)
                else None
            )
            if source:
                try:
                    bases[container_path] = open_output_base(source, container_path, mount)
                except OSError as error:
                    step.notes.append(f"could not collect output {container_path}: {error}")

        def copy_all() -> None:
            while bases:
                container_path, (fd, parts) = bases.popitem()
                name = output_name(container_path)
                dest = Path(f"/proc/self/fd/{into}", name)
                unreadable: list[str] = []
                try:
                    if copy_below(fd, parts, container_path, dest, unreadable) is not None:
                        outputs[container_path] = collected / name
                    if unreadable:
                        step.notes.append(
                            f"output {container_path}: left out {len(unreadable)} entries the "
                            f"step could not read (e.g. {unreadable[0]})"
                        )
                except OutputRefused as error:
                    refused[container_path] = str(error)
                except OSError as error:
                    step.notes.append(f"could not collect output {container_path}: {error}")

        try:
            self._launcher.as_reader(step.reader, copy_all)
        finally:
            os.close(into)
            for fd, _ in bases.values():  # left when the reader could not start
                os.close(fd)
        return outputs, refused

    def _finalize(self, step: _Step) -> StepStatus:
        request, handle = step.request, step.handle
        assert step.finished_at is not None
        if request is None or step.lost_reason is not None:
            if step.cgroup is not None:
                step.cgroup.kill_all()
                step.cgroup.remove()
            return lost_status(
                handle, step.lost_reason or "unknown", step.finished_at, step.cancel_reason
            )
        outputs, refused = self._collect(step, request)
        if isinstance(step.outputs, OverlayView):
            self._spares.later(step.outputs.close)  # the overlay's unmount: nobody waits for it
        elif step.outputs is not None:
            step.outputs.close()
        oom = False
        if step.cgroup is not None:
            oom = step.cgroup.oom_killed(killed_by_sigkill=step.returncode == -signal.SIGKILL)
            step.cgroup.kill_all()
            step.cgroup.remove()
        return build_status(
            request=request,
            returncode=step.returncode,
            launch_error=step.launch_error,
            cancel_reason=step.cancel_reason,
            deadline_hit=step.deadline_hit,
            oom_killed=oom,
            outputs=outputs,
            started_at=handle.started_at,
            finished_at=step.finished_at,
            notes=tuple(step.notes),
            refused_outputs=refused,
        )

    def _step_for(self, handle: StepHandle) -> _Step:
        with self._lock:
            step = self._steps.get(handle.key)
            if step is not None:
                return step
        return self._adopt(handle)

    def _adopt(self, handle: StepHandle) -> _Step:
        """Take over a handle from an earlier runner (engine restart)."""
        record = LaunchRecord.read(handle.workdir)
        if record is None or record.key != handle.key:
            step = _Step(handle=handle, request=None)
            alive = is_same_process(handle.pid, handle.started_at)
            gone = None if alive else "its process is gone"
            return self._take_over(step, running=alive, gone_reason=gone)
        return self._adopt_record(record, handle)

    def _adopt_launched(self, record: LaunchRecord, workdir: Path) -> _Step | None:
        """A step an earlier runner launched but whose engine died before saying so.

        Returns None when it never started. A shim that was spawned but has not recorded the
        step's start is still deciding: it got the go-ahead and is about to run the step, or
        its runner died first and it is about to say "unstarted". Its runner is gone, so it
        decides at once; waiting for that is what keeps a relaunch from running the step twice.
        """
        records = record.records
        shim = records.shim_pid()
        deadline = time.monotonic() + _SHIM_DECISION_SECONDS
        while records.pid() is None and shim is not None:
            if records.unstarted() or not is_same_process(shim, record.written_at, tolerance=60):
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.005)
        pid, started_at = records.pid(), records.started_at()
        if pid is None or started_at is None:
            return None
        return self._adopt_record(record, StepHandle(record.key, pid, workdir, started_at))

    def _adopt_record(self, record: LaunchRecord, handle: StepHandle) -> _Step:
        """Watch a step an earlier runner launched, and collect what it recorded when it ends.

        The shim keeps the step's exit status and the upper layer (or mapped root) keeps its
        outputs, so a step that finished while no engine watched is reported exactly as if it
        had been watched throughout.
        """
        request = StepRequest(
            key=record.key,
            argv=(record.argv0,),
            env={},
            workdir=handle.workdir,
            output_paths=record.output_paths,
            limits=ResourceLimits(memory_bytes=record.memory_bytes),
            deadline_seconds=record.deadline_seconds,
        )
        step = _Step(
            handle=handle, request=request, records=record.records, reader=record.reader
        )
        step.outputs = self._launcher.adopted_outputs(record.mode, handle.workdir)
        if record.cgroup_v1_dirs or record.cgroup_v2_dir:
            step.cgroup = StepCgroup(
                v1_dirs=[Path(d) for d in record.cgroup_v1_dirs],
                v2_dir=Path(record.cgroup_v2_dir) if record.cgroup_v2_dir else None,
            )
        alive = is_same_process(handle.pid, handle.started_at)
        # Read after the liveness check: a step that ended in between has recorded its status.
        finished = record.records.returncode() is not None
        adopted = self._take_over(
            step,
            running=alive and not finished,
            gone_reason=None if alive or finished else _NO_STATUS,
        )
        if adopted is step and finished:
            self._on_exit(step)
        elif adopted is step and alive and record.deadline_seconds is not None:
            left = handle.started_at + record.deadline_seconds - time.time()
            self._reaper.call_at(time.monotonic() + left, lambda: self._on_deadline(step))
        return adopted

    def _take_over(self, step: _Step, running: bool, gone_reason: str | None) -> _Step:
        """Register an adopted step: watch it while it runs, or report it lost at once."""
        handle = step.handle
        with self._finished:
            existing = self._steps.get(handle.key)
            if existing is not None:
                return existing
            self._steps[handle.key] = step
            if gone_reason is not None:
                step.finished_at = time.time()
                step.lost_reason = f"it was started by an earlier runner and {gone_reason}"
                self._unpolled.add(handle.key)
        if running:
            self._reaper.watch(handle.pid, lambda: self._on_exit(step), is_child=False)
        return step

    def cancel(self, handle: StepHandle, reason: str) -> None:
        """Ask the step to stop; a step that already ended keeps its real outcome."""
        step = self._step_for(handle)
        with self._lock:
            if step.finished_at is not None or step.cancel_reason is not None:
                return
            step.cancel_reason = reason or "cancelled"
            already_stopping = step.deadline_hit
        if not already_stopping:
            self._terminate(step)

    def forget(self, handle: StepHandle) -> None:
        """Drop a polled step's bookkeeping (its request, process object, status).

        A step that has not been finalized yet is kept: its sandbox and cgroup are released by
        `poll`, and `close()` must still find it.
        """
        with self._lock:
            step = self._steps.get(handle.key)
            if step is not None and step.status is not None:
                del self._steps[handle.key]
                self._unpolled.discard(handle.key)

    def wait(self, timeout: float) -> None:
        """Return as soon as some step has ended and not been polled yet, or after `timeout`."""
        with self._finished:
            if not self._unpolled:
                self._finished.wait(timeout)

    def close(self, abandon: bool = False) -> None:
        """Kill running steps, release sandboxes and cgroups; unpolled outputs are not collected.

        `abandon=True` (the run was taken over) only stops watching: the steps, their sandboxes
        and cgroups stay for the engine that adopts them.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            running = [s for s in self._steps.values() if s.finished_at is None]
        if abandon:
            self._reaper.stop()
            self._spares.close(keep_spares=True)
            self._launcher.close()
            return
        for step in running:
            signal_group(step.handle.pid, signal.SIGKILL)
            if step.cgroup is not None:
                step.cgroup.kill_all()
        deadline = time.monotonic() + 5.0
        with self._finished:
            while any(s.finished_at is None and s.popen is not None for s in running):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._finished.wait(remaining)
        self._reaper.stop()
        self._spares.close()
        self._launcher.close()
        for step in self._steps.values():
            if step.status is None:
                if step.outputs is not None:
                    step.outputs.close()
                if step.cgroup is not None:
                    step.cgroup.kill_all()
                    step.cgroup.remove()

    def __enter__(self) -> LocalRunner:  # noqa: PYI034 - Self needs 3.11
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
