"""The reconcile walk: from the persisted nodes, advance a run one step, the way Argo's operator does.

Each `walk()` starts at the entrypoint and descends through templates (Argo's
`executeTemplate`): a node that is fulfilled is returned as it is, a missing node is created
when its dependencies allow, a running DAG or Steps node is advanced. The walk never launches
processes and never blocks; it creates Pod nodes in Pending and lists them in `launch_queue`
for the executor, which commits the walk's transitions before it acts on them. Because the walk
reads only node state (and deterministic node names), calling it again after a crash resumes
the run where it stopped.
"""

from __future__ import annotations

import json
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from engine.binding import EMPTY_ARGS, BindingError, ResolvedArgs, bind_inputs
from engine.dagplan import DagPlan
from engine.errors import ExpressionError, KubepipeError
from engine.invocations import GroupProgress
from engine.outputs import parent_outputs
from engine.phases import NodePhase, NodeType, workflow_status_of
from engine.pods import finalize_template
from engine.retries import RetryDecision, decide_retry
from engine.scope import Scope, node_attribute
from engine.spec import Template, TemplateKind, _Invocation
from engine.state import NodeRecord, RunState
from engine.templates import TemplateLibrary, node_type_for
from engine.values import parse_duration
from engine.walk_containerset import execute_container_set
from engine.walk_dag import DagProgress, execute_dag
from engine.walk_steps import execute_steps

_POD_KINDS = (TemplateKind.CONTAINER, TemplateKind.SCRIPT, TemplateKind.RESOURCE)


class Operator:
    def __init__(
        self,
        state: RunState,
        library: TemplateLibrary,
        globals: dict[str, str],
        *,
        clock: Callable[[], float] = time.time,
        pod_limit: int | None = None,
    ) -> None:
        """`pod_limit`: the most Pending-or-Running pods the walk creates in this run (the
        engine's running-step limit), checked before the templates' own `parallelism`."""
        self.state = state
        self.library = library
        self.globals = globals
        self.clock = clock
        self.pod_limit = pod_limit
        self.launch_queue: deque[NodeRecord] = deque()
        self._queued: set[str] = set()
        self.bound_templates: dict[str, Template] = {}
        self.plans: dict[str, DagPlan] = {}
        self.dag_progress: dict[str, DagProgress] = {}
        self.group_progress: dict[str, GroupProgress] = {}  # per loop node, see engine.invocations
        self.pod_templates: dict[str, Template] = {}  # per DAG node, see engine.walk_dag
        self._active_pods = 0
        self._active_in: Counter[str] = Counter()
        self.next_wakeup: float | None = None  # earliest retry backoff or suspend end
        self.stopping: str | None = None  # a reason once stop/deadline: start nothing new
        # Pods of the workflow's exit handler, which a stop still runs (see `walk`).
        self.exit_pods: set[str] = set()
        self._in_exit_handler = False

    # -- entry ----------------------------------------------------------------------------
    def walk(self) -> None:
        self._count_active()
        self.next_wakeup = None
        run = self.state.run
        scope = Scope(self.state, self.globals)
        entry_template = self.library.entrypoint()
        entry = self.execute(
            run.name, run.name, entry_template, self.library.arguments(scope), scope, None, None
        )
        if entry is not None and run.entry_node_id is None:
            run.entry_node_id = entry.id
            self.state.run_dirty = True
        exit_template = self.library.exit_template()
        if entry is not None and entry.phase.is_fulfilled and exit_template is not None:
            self.globals.update(self._exit_globals(entry))
            exit_name = f"{run.name}.onExit"
            # Stop (unlike Terminate) and a passed deadline still run the exit handler, as in Argo.
            stopping, self.stopping = self.stopping, None
            self._in_exit_handler = True
            try:
                node = self.execute(
                    exit_name,
                    exit_name,
                    exit_template,
                    EMPTY_ARGS,
                    Scope(self.state, self.globals),
                    None,
                    None,
                    force=True,
                )
            finally:
                self.stopping = stopping
                self._in_exit_handler = False
            if node is not None and run.exit_node_id is None:
                run.exit_node_id = node.id
                self.state.run_dirty = True

    def _count_active(self) -> None:
        self._active_pods = 0
        self._active_in = Counter()
        for node_id in self.state.active:
            node = self.state.nodes[node_id]
            if node.type in (NodeType.POD, NodeType.DAG, NodeType.STEPS):
                if node.boundary_id is not None:
                    self._active_in[node.boundary_id] += 1
                if node.type is NodeType.POD:
                    self._active_pods += 1

    def _exit_globals(self, entry: NodeRecord) -> dict[str, str]:
        failures = [
            {
                "displayName": n.display_name,
                "message": n.message,
                "templateName": n.template_name or "",
                "phase": n.phase.value,
                "podName": n.id,
                "finishedAt": node_attribute(n, "finishedAt") or "",
            }
            for n in self.state.nodes.values()
            if n.type is NodeType.POD and n.phase.is_failure
        ]
        return {
            "workflow.status": workflow_status_of(entry.phase).value,
            "workflow.failures": json.dumps(failures, separators=(",", ":")),
        }

    # -- templates ------------------------------------------------------------------------
    def bad_arguments(
        self,
        name: str,
        display: str,
        template: Template,
        boundary_id: str | None,
        parent: NodeRecord | None,
        error: Exception,
    ) -> NodeRecord:
        """End a call whose arguments cannot be resolved or bound as an Error node saying why."""
        return self.state.create_settled(
            name,
            display,
            node_type_for(template),
            NodePhase.ERROR,
            "bad arguments",
            str(error),
            template_name=template.name,
            boundary_id=boundary_id,
            parent=parent,
        )

    def execute(
        self,
        name: str,
        display: str,
        template: Template,
        args: ResolvedArgs | None,
        scope: Scope,
        boundary_id: str | None,
        parent: NodeRecord | None,
        *,
        force: bool = False,
    ) -> NodeRecord | None:
        """Argo's executeTemplate: create the node for a template call, or advance it."""
        node = self.state.get(name)
        if node is not None and node.phase.is_fulfilled:
            return node
        if node is None:
            if not force and not self.may_start(template, boundary_id):
                return None
            try:
                bound, inputs = bind_inputs(template, args or EMPTY_ARGS, scope)
            except (BindingError, ExpressionError) as exc:
                return self.bad_arguments(name, display, template, boundary_id, parent, exc)
            node_type = NodeType.RETRY if bound.retry_strategy is not None else node_type_for(bound)
            node = self.state.create(
                name,
                display,
                node_type,
                template_name=template.name,
                boundary_id=boundary_id,
                parent=parent,
                inputs=inputs,
            )
            self.note_started(node)
            self.bound_templates[node.id] = bound
        bound = self._bound_template(node, template, scope)
        if node.type is NodeType.RETRY:
            self._execute_retry(node, bound, scope, boundary_id)
        else:
            self._execute_body(node, bound, boundary_id)
        self.fail_if_stopped(node)
        return node

    def fail_if_stopped(self, node: NodeRecord) -> None:
        """Once stopping, a parent whose children are all settled fails instead of waiting."""
        if self.stopping is None or node.phase.is_fulfilled or node.type is NodeType.POD:
            return
        for active_id in self.state.active:
            current = self.state.nodes[active_id].parent_id
            while current is not None:
                if current == node.id:
                    return
                current = self.state.nodes[current].parent_id
        self.state.transition(node, NodePhase.FAILED, "stopped", self.stopping)

    def _bound_template(self, node: NodeRecord, template: Template, scope: Scope) -> Template:
        bound = self.bound_templates.get(node.id)
        if bound is None:  # resumed from the database: re-bind from the recorded inputs
            args = ResolvedArgs(
                node.inputs.get("parameters", {}),
                {
                    k: {kk: vv for kk, vv in v.items() if kk != "path"}
                    for k, v in node.inputs.get("artifacts", {}).items()
                },
            )
            bound, _ = bind_inputs(template, args, scope)
            self.bound_templates[node.id] = bound
        return bound

    def bound_template(self, node: NodeRecord) -> Template:
        return self.bound_templates[node.id]

    def pod_template(self, node: NodeRecord) -> Template:
        """The pod's template with its per-pod placeholders filled; computed once per pod."""
        template = self.pod_templates.get(node.id)
        if template is None:
            scope = Scope(self.state, self.globals, node.inputs)
            template = finalize_template(node, self.bound_templates[node.id], scope)
            self.pod_templates[node.id] = template
        return template

    def note_started(self, node: NodeRecord) -> None:
        if node.type in (NodeType.POD, NodeType.DAG, NodeType.STEPS):
            if node.boundary_id is not None:
                self._active_in[node.boundary_id] += 1
            if node.type is NodeType.POD:
                self._active_pods += 1

    def pods_exhausted(self) -> bool:
        """No pod may be created now: the engine's limit or the workflow's `parallelism` is
        reached (or the run is stopping). Lets walkers skip pod tasks without evaluating them."""
        if self.stopping is not None:
            return True
        for limit in (self.pod_limit, self.library.parallelism):
            if limit is not None and self._active_pods >= limit:
                return True
        return False

    def calls_pod(self, inv: _Invocation) -> bool:
        """The invocation's template is a pod (what `pod_limit` and `parallelism` hold back)."""
        return self.library.for_invocation(inv).kind in _POD_KINDS

    def may_start(self, template: Template, boundary_id: str | None) -> bool:
        if self.stopping is not None:
            return False
        if template.kind in _POD_KINDS and self.pods_exhausted():
            return False
        if boundary_id is not None:
            boundary = self.state.nodes[boundary_id]
            boundary_template = self.bound_templates.get(boundary_id)
            if boundary_template is not None and boundary_template.parallelism is not None:
                return self._active_in[boundary.id] < boundary_template.parallelism
        return True

    def _execute_body(
        self, node: NodeRecord, bound: Template, boundary_id: str | None
    ) -> NodeRecord:
        kind = bound.kind
        if kind in _POD_KINDS:
            self.queue_pod(node)
            return node
        if kind is TemplateKind.CONTAINER_SET:
            return execute_container_set(self, node, bound)
        if kind is TemplateKind.SUSPEND:
            return self._execute_suspend(node, bound)
        if kind is TemplateKind.DAG:
            return execute_dag(self, node, bound)
        if kind is TemplateKind.STEPS:
            return execute_steps(self, node, bound)
        self.state.transition(
            node,
            NodePhase.ERROR,
            "unsupported",
            f"{kind.value} templates are not supported by the local engine",
        )
        return node

    def queue_pod(self, node: NodeRecord) -> None:
        """Hand a Pending pod (or container) to the executor, once; fail it instead when stopping."""
        if (
            node.phase is not NodePhase.PENDING
            or node.handle is not None
            or node.id in self._queued
        ):
            return
        if self.stopping is not None:
            self.state.transition(node, NodePhase.FAILED, "stopped", self.stopping)
        else:
            self._queued.add(node.id)
            self.launch_queue.append(node)
            if self._in_exit_handler:
                self.exit_pods.add(node.id)

    def halted(self, node: NodeRecord) -> bool:
        """A queued pod must not start: the run is stopping and it is not its exit handler's."""
        return self.stopping is not None and node.id not in self.exit_pods

    def launched(self, node: NodeRecord) -> None:
        """The executor started (or finished) the queued pod; forget it."""
        self._queued.discard(node.id)
        self.exit_pods.discard(node.id)

    def forget(self, node: NodeRecord) -> None:
        """A pod ended: drop its templates, so memory follows the running pods, not the run.

        The walk returns a fulfilled node as it is and never binds its template again.
        """
        self.bound_templates.pop(node.id, None)
        self.pod_templates.pop(node.id, None)

    # -- suspend --------------------------------------------------------------------------
    def _execute_suspend(self, node: NodeRecord, bound: Template) -> NodeRecord:
        assert bound.suspend is not None
        now = self.clock()
        if node.phase is NodePhase.PENDING:
            try:
                seconds = parse_duration(bound.suspend.duration, field="suspend.duration")
            except ValueError as exc:
                self.state.transition(node, NodePhase.ERROR, "bad duration", str(exc))
                return node
            node.extra["resume_at"] = None if seconds is None else now + seconds
            self.state.transition(node, NodePhase.RUNNING, "suspended")
        resume_at = node.extra.get("resume_at")
        if node.extra.get("resumed") or (resume_at is not None and now >= resume_at):
            params = {}
            inputs = node.inputs.get("parameters", {})
            for p in bound.outputs.parameters:
                # Supplied at resume, else the output's default, else the same-named input (the
                # form Argo's UI shows for intermediate parameters), else its literal value.
                candidates = (
                    node.extra.get("supplied", {}).get(p.name),
                    p.value_from.default if p.value_from else None,
                    inputs.get(p.name),
                    p.value,
                )
                value = next((c for c in candidates if c is not None), None)
                if value is not None:
                    params[p.name] = value
            node.outputs = {"parameters": params}
            self.state.transition(node, NodePhase.SUCCEEDED, "resumed")
        elif resume_at is not None:
            self._wake_at(resume_at)
        return node

    def _wake_at(self, when: float) -> None:
        self.next_wakeup = when if self.next_wakeup is None else min(self.next_wakeup, when)

    # -- retries --------------------------------------------------------------------------
    def _execute_retry(
        self, node: NodeRecord, bound: Template, scope: Scope, boundary_id: str | None
    ) -> NodeRecord:
        if node.phase is NodePhase.PENDING:
            self.state.transition(node, NodePhase.RUNNING, "retry node started")
        children = [self.state.nodes[c] for c in node.children]
        last = children[-1] if children else None
        if last is not None and not last.phase.is_fulfilled:
            self.bound_templates.setdefault(last.id, bound)  # a resumed engine meets it here first
            self._execute_body(last, bound, boundary_id)
            if not last.phase.is_fulfilled:
                return node
        if last is not None:
            assert bound.retry_strategy is not None
            decision: RetryDecision = decide_retry(
                bound.retry_strategy,
                children,
                self.clock(),
                deadline_passed=self.stopping is not None,
            )
            if decision.done:
                node.outputs = dict(last.outputs)
                node.exit_code = last.exit_code
                self.state.transition(node, decision.phase, "retries finished", decision.message)
                return node
            node.extra["next_attempt_at"] = decision.next_attempt_at
            if decision.next_attempt_at > self.clock():
                self._wake_at(decision.next_attempt_at)
                return node
        if not self.may_start(bound, boundary_id):
            return node
        attempt = len(children)
        child = self.state.create(
            f"{node.name}({attempt})",
            f"{node.display_name}({attempt})",
            node_type_for(bound),
            template_name=node.template_name,
            boundary_id=boundary_id,
            parent=node,
            inputs=node.inputs,
            attempt=attempt,
        )
        self.note_started(child)
        self.bound_templates[child.id] = (
            bound  # `{{retries}}` is filled per attempt when the pod is built
        )
        self._execute_body(child, bound, boundary_id)
        return node

    # -- DAG ------------------------------------------------------------------------------
    def finish_parent(self, node: NodeRecord, bound: Template, scope: Scope) -> None:
        try:
            node.outputs, published = parent_outputs(bound, scope)
        except KubepipeError as exc:
            self.state.transition(node, NodePhase.ERROR, "outputs", str(exc))
            return
        for kind, name, value in published:
            self.publish_global(kind, name, value)
        self.state.transition(node, NodePhase.SUCCEEDED, "children succeeded")

    def publish_global(self, kind: str, name: str, value: Any) -> None:
        """An output with `globalName`: visible as `workflow.outputs.*` and in the run's outputs."""
        run = self.state.run
        run.outputs.setdefault(kind, {})[name] = value
        self.state.run_dirty = True
        if kind == "parameters":
            self.globals[f"workflow.outputs.parameters.{name}"] = value
