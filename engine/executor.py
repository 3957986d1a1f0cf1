"""`Engine`: submit a workflow as a run, and drive a run to its end with a runner.

One reconcile (`_reconcile`) is: read the runner's reports for running pods, walk the templates
(`Operator.walk`), derive the run phase, commit every change in one transaction, and only then
launch the pods the walk created (committing their Running transition after launch). The loop
sleeps in `runner.wait()` until a step exits or a timer (retry backoff, suspend, deadline) is due.

Launches are bounded by the process's `StepSlots` (engine.slots), shared by every run it
executes: a queued pod that finds no free slot stays Pending and in the queue, and the walk
creates no more pods per run than the limit, so a 100,000-item loop costs memory and a walk
in proportion to the steps running, not to its size. A stop request is read again before each
launch, so no step starts after `kubepipe stop` has been recorded.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path

from artifact_store import ArtifactStore, ArtifactStoreError
from engine.cache import cache_key, caching_enabled, outputs_still_stored
from engine.controllers import ControllerRegistry, ResourceContext, default_registry
from engine.controllers.registry import process_handles
from engine.errors import KubepipeError, Problem, RunClaimed, SpecError
from engine.metadata.store import MetadataStore
from engine.operator import Operator
from engine.phases import NodePhase, NodeType, RunPhase, derive_run_phase
from engine.pods import (
    PodContext,
    build_request,
    collect_outputs,
    phase_for,
    store_logs,
)
from engine.runners.base import Runner, StepHandle, StepOutcome, StepStatus
from engine.controllers.job import running_pod_slots
from engine.slots import StepSlots, default_step_limit
from engine.spec import Parameter, Template, TemplateKind, Workflow
from engine.state import NodeRecord, RunRecord, RunState
from engine.templates import TemplateLibrary
from engine.values import parse_duration

OnChange = Callable[[RunState], None]
DEFAULT_LEASE_SECONDS = (
    30.0  # an engine that has not heartbeated a run for this long is presumed dead
)


# Set by a scheduler on the runs it creates, as Argo's cron controller does; RFC 3339 in UTC.
SCHEDULED_TIME_ANNOTATION = "workflows.argoproj.io/scheduled-time"
STOP_CHECK_INTERVAL = 0.25  # seconds between looks for a `kubepipe stop` request


def apply_parameters(
    workflow: Workflow, overrides: Mapping[str, str], source: str = ""
) -> Workflow:
    """`-p NAME=VALUE` sets `spec.arguments.parameters`, adding names not declared, as `argo submit -p` does.

    An enum-constrained parameter rejects a value outside its enum here, before anything runs.
    """
    if not overrides:
        return workflow
    params = [p.model_copy() for p in workflow.spec.arguments.parameters]
    known = {p.name: p for p in params}
    problems = []
    for name, value in overrides.items():
        if name in known:
            if known[name].enum and value not in known[name].enum:
                problems.append(
                    Problem(
                        f"parameter {name!r}: {value!r} is not one of {list(known[name].enum)}",
                        path="spec.arguments.parameters",
                    )
                )
            known[name].value = value
        else:
            params.append(Parameter(name=name, value=value))
    if problems:
        raise SpecError(problems, source)
    spec = workflow.spec.model_copy(
        update={"arguments": workflow.spec.arguments.model_copy(update={"parameters": params})}
    )
    return workflow.model_copy(update={"spec": spec})


def _globals(run: RunRecord, workflow: Workflow) -> dict[str, str]:
    created = datetime.fromtimestamp(run.created_at, tz=timezone.utc)
    values = {
        "workflow.name": run.name,
        "workflow.namespace": run.namespace,
        "workflow.uid": run.uid,
        "workflow.serviceAccountName": str(workflow.spec.service_account_name or "default"),
        "workflow.mainEntrypoint": workflow.spec.entrypoint or "",
        "workflow.priority": str(workflow.spec.priority or 0),
        "workflow.creationTimestamp": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "workflow.creationTimestamp.RFC3339": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "workflow.creationTimestamp.s": str(int(run.created_at)),
        # A run started by hand has no schedule; a recurring run carries its due time in the
        # annotation Argo's cron controller sets, so the run sees when it was due, not created.
        "workflow.scheduledTime": workflow.metadata.annotations.get(
            SCHEDULED_TIME_ANNOTATION, created.strftime("%Y-%m-%dT%H:%M:%SZ")
        ),
        "workflow.status": RunPhase.RUNNING.value,
        "workflow.duration": "0",
    }
    for char in "aAbBcdHIjmMpSUwWxXyYZz":
        values[f"workflow.creationTimestamp.{char}"] = created.strftime(f"%{char}")

    params = workflow.spec.arguments.parameters
    for p in params:
        values[f"workflow.parameters.{p.name}"] = (
            p.value if p.value is not None else (p.default or "")
        )
    values["workflow.parameters.json"] = json.dumps(
        [{"name": p.name, "value": values[f"workflow.parameters.{p.name}"]} for p in params],
        separators=(",", ":"),
    )
    for kind, mapping in (
        ("labels", workflow.metadata.labels),
        ("annotations", workflow.metadata.annotations),
    ):
        for key, value in mapping.items():
            values[f"workflow.{kind}.{key}"] = value
        values[f"workflow.{kind}.json"] = json.dumps(mapping, separators=(",", ":"))
    for name, value in run.outputs.get("parameters", {}).items():
        values[f"workflow.outputs.parameters.{name}"] = value
    return values


class _LeaseKeeper:
    """Renews a run's lease from its own thread while the engine executes the run.

    The engine's loop can be busy for longer than a lease (a large artifact upload, a slow
    database), and a lease that lapses then would hand a live run to another worker. Renewing
    from a thread ties the lease to the process being alive; commits are fenced as well
    (`MetadataStore.commit(owner=...)`), so a takeover is still safe if the thread stalls too.
    """

    def __init__(self, metadata: MetadataStore, run_id: str, owner: str, interval: float) -> None:
        self.lost = False
        self._metadata, self._run_id, self._owner = metadata, run_id, owner
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._renew, name=f"kubepipe-lease-{run_id}", daemon=True
        )
        self._thread.start()

    def _renew(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                if not self._metadata.heartbeat(self._run_id, self._owner):
                    self.lost = True
                    return
            except Exception:  # noqa: BLE001 - the database may be briefly unreachable; retry
                continue

    def close(self) -> None:
        self._stopped.set()
        self._thread.join()


class Engine:
    def __init__(
        self,
        metadata: MetadataStore,
        artifacts: ArtifactStore,
        runner: Runner,
        *,
        work_root: Path,
        controllers: ControllerRegistry | None = None,
        poll_interval: float = 0.5,
        clock: Callable[[], float] = time.time,
        owner: str | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        slots: StepSlots | None = None,
    ) -> None:
        """`slots`: the running-step limit shared with the process's other engines; without
        one, this engine gets a limit of its own at the machine's default."""
        self.metadata = metadata
        # Who this engine is in the runs table; unique per process and engine instance.
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease_seconds = lease_seconds
        self.artifacts = artifacts
        self.runner = runner
        self.work_root = work_root
        self.controllers = controllers or default_registry()
        self.poll_interval = poll_interval
        self.clock = clock
        self._stop_checked_at = float("-inf")
        self.slots = slots if slots is not None else StepSlots(default_step_limit())
        self._holding: set[str] = set()  # nodes of this engine's run that hold a slot

    # -- submit -----------------------------------------------------------------------------
    def submit(
        self,
        workflow: Workflow,
        *,
        parameters: Mapping[str, str] | None = None,
        source: str = "",
        queue: bool = False,
    ) -> RunRecord:
        """Record a run. `queue=True` leaves it for any engine worker (`kubepipe engine`) to claim;
        otherwise this engine holds it, so no worker takes it while this process executes it."""
        workflow = apply_parameters(workflow, parameters or {}, source)
        meta = workflow.metadata
        name = meta.name or f"{meta.generate_name or 'workflow-'}{secrets.token_hex(3)[:5]}"
        run = RunRecord(
            id=uuid.uuid4().hex[:12],
            name=name,
            uid=str(uuid.uuid4()),
            namespace=meta.namespace or "default",
            phase=RunPhase.PENDING,
            created_at=self.clock(),
            manifest=workflow.dump(),
            source=source,
            parameters={
                p.name: p.value for p in workflow.spec.arguments.parameters if p.value is not None
            },
            owner=None if queue else self.owner,
            heartbeat_at=None if queue else self.clock(),
        )
        self.metadata.create_run(run)
        return run

    # -- execute ----------------------------------------------------------------------------
    def execute(self, run_id: str, on_change: OnChange | None = None) -> RunRecord:
        """Drive a run until it is finished; safe to call again on a run a dead engine left.

        The run is claimed first (compare-and-set on its owner) and its lease renewed while it
        runs; if another engine holds a live lease, `RunClaimed` is raised and nothing is done.
        """
        ref = self.metadata.resolve_run(run_id)
        if ref.phase.is_finished:
            return ref
        if not self.metadata.claim_run(ref.id, self.owner, self.lease_seconds):
            raise RunClaimed(f"run {ref.id} is being executed by another engine ({ref.owner})")
        run_id = ref.id
        lease = _LeaseKeeper(self.metadata, run_id, self.owner, self.lease_seconds / 3)
        try:
            return self._drive(run_id, lease, on_change)
        finally:
            lease.close()
            self._release_all_slots()

    def _drive(self, run_id: str, lease: _LeaseKeeper, on_change: OnChange | None) -> RunRecord:
        state = self.metadata.load_state(run_id)
        workflow = Workflow.model_validate(state.run.manifest)
        library = TemplateLibrary(workflow)
        globals_ = _globals(state.run, workflow)
        operator = Operator(
            state, library, globals_, clock=self.clock, pod_limit=self.slots.limit
        )
        handles = {
            n.id: StepHandle.from_json(json.dumps(n.handle))
            for n in state.nodes.values()
            if n.handle is not None and not n.phase.is_fulfilled
        }
        # Still running from an earlier engine (its pods, and its controllers' pods): they
        # occupy slots.
        for key in [*handles, *running_pod_slots(state)]:
            self.slots.hold()
            self._holding.add(key)
        run = state.run
        if run.started_at is None:
            run.started_at = self.clock()
            run.phase = RunPhase.RUNNING
            state.run_dirty = True
        deadline = parse_duration(
            workflow.spec.active_deadline_seconds, field="spec.activeDeadlineSeconds"
        )
        if handles:
            # Resuming a run a previous engine left: bind the templates of its running steps
            # before their reports are read.
            operator.walk()
        while True:
            try:
                self._reconcile(state, operator, handles, deadline)
            except RunClaimed:
                raise  # the run is another engine's now: record nothing, stop nothing
            except Exception as exc:  # a bug must not leave the run Running forever
                self._record_internal_error(run_id, handles, exc)
                raise
            if on_change is not None:
                on_change(state)
            if run.phase.is_finished:
                return run
            if lease.lost:
                # Another engine decided we were dead and took the run: leave it to that engine.
                raise RunClaimed(
                    f"run {run_id} was taken over by another engine; this engine stops driving it"
                )
            timeout = self.poll_interval
            if operator.next_wakeup is not None:
                timeout = max(0.0, min(timeout, operator.next_wakeup - self.clock()))
            if state.has_changes() or (operator.launch_queue and self.slots.free() > 0):
                continue
            # Queued pods waiting for a slot another run holds are retried after `timeout`.
            self.runner.wait(timeout)

    def _reconcile(
        self,
        state: RunState,
        operator: Operator,
        handles: dict[str, StepHandle],
        deadline: float | None,
    ) -> None:
        run = state.run
        for node_id in [n for n in handles]:
            node = state.nodes[node_id]
            status = self.runner.poll(handles[node_id])
            if status is not None:
                self._finish_pod(state, operator, node, status)
                node.handle = None  # only a running pod is adopted by its handle
                self.runner.forget(handles.pop(node_id))
                self._release_slot(node_id)
                operator.forget(node)
        for node_id in [i for i in state.active if "resource" in state.nodes[i].extra]:
            self.controllers.reconcile(
                state, state.nodes[node_id], operator, self._resource_context(state)
            )
        stop = None
        now = self.clock()
        if operator.stopping is None and now - self._stop_checked_at >= STOP_CHECK_INTERVAL:
            # `kubepipe stop` writes desired state from another process; a read per tick would
            # cost a query per step, so look a few times a second (and before each launch).
            self._stop_checked_at = now
            stop = self.metadata.stop_requested(run.id)
            self._apply_resume_requests(state)
        if (
            stop is None
            and deadline is not None
            and run.started_at is not None
            and self.clock() - run.started_at > deadline
        ):
            stop = f"Workflow exceeded its deadline of {deadline:g}s (activeDeadlineSeconds)"
        if stop is not None:
            self._begin_stop(state, operator, handles, stop)
        operator.globals["workflow.duration"] = (
            f"{self.clock() - (run.started_at or self.clock()):.3f}"
        )
        operator.walk()
        self._derive_phase(state, operator)
        self.metadata.commit(state, self.owner)
        self._launch_queued(state, operator, handles, deadline)
        self.metadata.commit(state, self.owner)

    def _begin_stop(
        self, state: RunState, operator: Operator, handles: dict[str, StepHandle], reason: str
    ) -> None:
        """Stop or deadline: cancel what runs; the walk and the launch queue start nothing new."""
        if operator.stopping is not None:
            return
        operator.stopping = reason
        for handle in handles.values():
            self.runner.cancel(handle, reason)
        for node_id in [i for i in state.active if "resource" in state.nodes[i].extra]:
            self.controllers.cancel(
                state, state.nodes[node_id], reason, self._resource_context(state)
            )

    def _launch_queued(
        self,
        state: RunState,
        operator: Operator,
        handles: dict[str, StepHandle],
        deadline: float | None,
    ) -> None:
        """Launch queued pods in order while step slots are free; the rest wait, Pending.

        The run's stop request is read before every launch: a launch costs far more than that
        one-row read, and it is what guarantees no step starts once `kubepipe stop` was
        recorded, however long the queue. Once stopping, queued pods fail instead, except the
        workflow's exit handler, which a stop still runs (as Argo's stop does, unlike terminate).
        """
        queue = operator.launch_queue
        while queue:
            node = queue[0]
            if node.phase is not NodePhase.PENDING or node.handle is not None:
                operator.launched(queue.popleft())
                continue
            if operator.stopping is None:
                self._stop_checked_at = self.clock()
                stop = self.metadata.stop_requested(state.run.id)
                if stop is not None:
                    self._begin_stop(state, operator, handles, stop)
            if operator.halted(node):
                operator.launched(queue.popleft())
                state.transition(node, NodePhase.FAILED, "stopped", operator.stopping)
                continue
            if not self.slots.try_acquire():
                return
            operator.launched(queue.popleft())
            self._holding.add(node.id)
            self._launch(state, operator, node, handles, deadline)
            if node.id not in handles:  # a cache hit, a resource or a failed launch: nothing runs
                self._release_slot(node.id)
                if node.phase.is_fulfilled:
                    operator.forget(node)

    def _release_slot(self, node_id: str) -> None:
        if node_id in self._holding:
            self._holding.discard(node_id)
            self.slots.release()

    def _release_all_slots(self) -> None:
        """The run ended, was taken over or failed: whatever it still counts is given back."""
        if self._holding:
            self.slots.release(len(self._holding))
            self._holding.clear()

    def _record_internal_error(
        self, run_id: str, handles: dict[str, StepHandle], exc: Exception
    ) -> None:
        for handle in handles.values():
            self.runner.cancel(handle, "engine error")
        state = self.metadata.load_state(
            run_id
        )  # the last committed state, not the half-applied one
        state.run.phase = RunPhase.ERROR
        state.run.message = (
            f"internal engine error: {type(exc).__name__}: {exc} (please report this)"
        )
        state.run.finished_at = self.clock()
        state.run_dirty = True
        self.metadata.commit(state, self.owner)

    def _apply_resume_requests(self, state: RunState) -> None:
        """`kubepipe resume`: mark matching suspended nodes resumed, with any supplied outputs."""
        for selector, outputs in self.metadata.take_resume_requests(state.run.id):
            for node_id in list(state.active):
                node = state.nodes[node_id]
                if node.type is not NodeType.SUSPEND:
                    continue
                if selector in (None, node.id, node.name, node.display_name):
                    node.extra["resumed"] = True
                    node.extra["supplied"] = {**node.extra.get("supplied", {}), **outputs}
                    state.touch(node)

    def _launch(
        self,
        state: RunState,
        operator: Operator,
        node: NodeRecord,
        handles: dict[str, StepHandle],
        deadline: float | None,
    ) -> None:
        run = state.run
        left = None
        if deadline is not None and run.started_at is not None and operator.stopping is None:
            left = deadline - (self.clock() - run.started_at)
        try:
            template = operator.pod_template(node)
            if self._use_cache(state, operator, node, template):
                return
            if template.kind is TemplateKind.RESOURCE:
                self.controllers.start(
                    state, node, template, operator, self._resource_context(state)
                )
                return
            request = build_request(
                node,
                template,
                run_id=run.id,
                work_root=self.work_root,
                store=self.artifacts,
                deadline_left=left,
                pod=PodContext.of(operator.library.spec, state),
            )
            handle = self.runner.launch(request)
        except (KubepipeError, ArtifactStoreError, OSError, ValueError) as exc:
            state.transition(node, NodePhase.ERROR, "launch failed", str(exc))
            return
        node.handle = json.loads(handle.to_json())
        handles[node.id] = handle
        state.transition(node, NodePhase.RUNNING, "launched")

    def _use_cache(
        self, state: RunState, operator: Operator, node: NodeRecord, template: Template
    ) -> bool:
        """Succeed the pod from the step cache when an identical step already succeeded."""
        if (
            not caching_enabled(operator.library.workflow, template)
            or template.kind is TemplateKind.RESOURCE
        ):
            return False
        key = cache_key(template, node)
        node.extra["cache_key"] = key
        hit = self.metadata.cached_outputs(key)
        if hit is None or not outputs_still_stored(hit[2], self.artifacts):
            return False
        run_id, node_id, outputs = hit
        node.outputs = outputs
        node.extra["cached_from"] = {"run": run_id, "node": node_id}
        state.transition(
            node, NodePhase.SUCCEEDED, "cached", f"cached: reused the outputs of run {run_id}"
        )
        return True

    def _resource_context(self, state: RunState) -> ResourceContext:
        return ResourceContext(
            run_id=state.run.id,
            runner=self.runner,
            artifacts=self.artifacts,
            work_root=self.work_root,
            clock=self.clock,
            namespace=state.run.namespace,
            acquire_slot=self._acquire_slot,
            release_slot=self._release_slot,
        )

    def _acquire_slot(self, key: str) -> bool:
        """A slot for a pod a controller starts (a Job's), counted with this run's own."""
        if key in self._holding:
            return True
        if not self.slots.try_acquire():
            return False
        self._holding.add(key)
        return True

    def _finish_pod(
        self, state: RunState, operator: Operator, node: NodeRecord, status: StepStatus
    ) -> None:
        template = operator.pod_template(node)
        lost_logs = None
        try:
            store_logs(state, node, status, self.artifacts)
        except (KubepipeError, ArtifactStoreError, OSError) as exc:
            lost_logs = f"could not store logs: {exc}"
        succeeded = status.outcome is StepOutcome.EXITED and status.exit_code == 0
        outputs, problems = collect_outputs(
            state, node, template, status, self.artifacts, strict=succeeded
        )
        node.outputs = outputs
        node.exit_code = status.exit_code
        phase, message = phase_for(status, problems)
        if lost_logs is not None:
            # As in Argo, where the wait container's failure to archive logs fails the pod: the
            # step's record is incomplete, so it is an Error (retried by OnError/Always).
            message = f"{message}; {lost_logs}" if message else lost_logs
            if phase is NodePhase.SUCCEEDED:
                phase = NodePhase.ERROR
        for p in template.outputs.parameters:
            if p.global_name and p.name in outputs.get("parameters", {}):
                operator.publish_global("parameters", p.global_name, outputs["parameters"][p.name])
        for a in template.outputs.artifacts:
            if a.global_name and a.name in outputs.get("artifacts", {}):
                operator.publish_global("artifacts", a.global_name, outputs["artifacts"][a.name])
        state.transition(node, phase, "step ended", message)
        if phase is NodePhase.SUCCEEDED and "cache_key" in node.extra:
            self.metadata.put_cache_entry(
                node.extra["cache_key"], state.run.id, node.id, node.outputs
            )

    def _derive_phase(self, state: RunState, operator: Operator) -> None:
        run = state.run
        entry = state.nodes.get(run.entry_node_id) if run.entry_node_id else None
        exit_node = state.nodes.get(run.exit_node_id) if run.exit_node_id else None
        has_exit = operator.library.exit_template() is not None
        phase = derive_run_phase(
            entry.phase if entry else None, exit_node.phase if exit_node else None, has_exit
        )
        if phase is RunPhase.PENDING:
            phase = RunPhase.RUNNING
        if phase != run.phase:
            run.phase = phase
            state.run_dirty = True
            if phase.is_finished:
                run.finished_at = self.clock()
                run.message = self._message(state, entry, exit_node, operator)
                run.outputs = {**run.outputs, **_entry_outputs(entry, operator.library.workflow)}

    def _message(
        self,
        state: RunState,
        entry: NodeRecord | None,
        exit_node: NodeRecord | None,
        operator: Operator,
    ) -> str:
        if operator.stopping is not None:
            return operator.stopping
        if entry is not None and entry.phase.is_failure:
            return entry.message
        if exit_node is not None and exit_node.phase.is_failure:
            return f"exit handler failed: {exit_node.message}"
        return ""


OUTPUT_TYPES_ANNOTATION = (
    "kubepipe.io/outputs"  # written by the DSL compiler: pipeline output -> type
)


def _entry_outputs(entry: NodeRecord | None, workflow: Workflow) -> dict[str, object]:
    """The entry template's output parameters, and the pipeline's outputs re-typed.

    Parameters travel as strings; a compiled pipeline records its outputs' types in an
    annotation, so the run reports `{"Output": 3}` rather than `{"Output": "3"}` (str stays str,
    everything else is decoded from JSON), under KFP's names.
    """
    if entry is None or not entry.outputs.get("parameters"):
        return {}
    raw = dict(entry.outputs["parameters"])
    out: dict[str, object] = {"entryParameters": raw}
    types = workflow.metadata.annotations.get(OUTPUT_TYPES_ANNOTATION)
    if types:
        try:
            declared = json.loads(types)
        except ValueError:
            declared = {}
        for name, kind in declared.items():
            if name not in raw:
                continue
            try:
                out[name] = raw[name] if kind == "str" else json.loads(raw[name])
            except ValueError:
                out[name] = raw[name]
    return out


def stop_without_engine(
    metadata: MetadataStore,
    runner_kill: Callable[[dict[str, object]], None],
    run_ref: str,
    reason: str,
) -> RunRecord:
    """Finish a run nobody is executing: kill what its handles name and fail its open nodes."""
    state = metadata.load_state(run_ref)
    for node in state.nodes.values():
        if node.phase.is_fulfilled:
            continue
        for handle in ([node.handle] if node.handle is not None else []) + process_handles(node):
            runner_kill(handle)
        state.transition(node, NodePhase.FAILED, "stopped", reason)
    state.run.phase = RunPhase.FAILED
    state.run.message = reason
    state.run.finished_at = time.time()
    state.run_dirty = True
    metadata.commit(state)
    return state.run
