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
from collections import Counter
from collections.abc import Callable
from typing import Any

from engine.binding import BindingError, ResolvedArgs, bind_inputs, render, resolve_arguments
from engine.dagplan import DagPlan, plan_dag
from engine.errors import ExpressionError, KubepipeError
from engine.expressions import TaskResult, evaluate_when
from engine.loops import LoopError, expand_loop
from engine.phases import NodePhase, NodeType
from engine.retries import RetryDecision, decide_retry
from engine.scope import Scope, node_attribute
from engine.spec import DAGTask, Template, TemplateKind, WorkflowStep, _Invocation
from engine.state import NodeRecord, RunState
from engine.templates import TemplateLibrary
from engine.values import item_label, parse_duration

_POD_KINDS = (TemplateKind.CONTAINER, TemplateKind.SCRIPT, TemplateKind.RESOURCE)
_EMPTY_ARGS = ResolvedArgs({}, {})


class Operator:
    def __init__(self, state: RunState, library: TemplateLibrary, globals: dict[str, str],
                 *, clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self.library = library
        self.globals = globals
        self.clock = clock
        self.launch_queue: list[NodeRecord] = []
        self._queued: set[str] = set()
        self._bound: dict[str, Template] = {}
        self._plans: dict[str, DagPlan] = {}
        self._active_pods = 0
        self._active_in: Counter[str] = Counter()
        self.next_wakeup: float | None = None  # earliest retry backoff or suspend end
        self.stopping: str | None = None  # a reason once stop/deadline: start nothing new

    # -- entry ----------------------------------------------------------------------------
    def walk(self) -> None:
        self._count_active()
        self.next_wakeup = None
        run = self.state.run
        scope = Scope(self.state, self.globals)
        entry_template = self.library.entrypoint()
        entry = self.execute(run.name, run.name, entry_template, self.library.arguments(scope), scope, None, None)
        if entry is not None and run.entry_node_id is None:
            run.entry_node_id = entry.id
            self.state.run_dirty = True
        exit_template = self.library.exit_template()
        if entry is not None and entry.phase.is_fulfilled and exit_template is not None:
            self.globals.update(self._exit_globals(entry))
            exit_name = f"{run.name}.onExit"
            # Stop (unlike Terminate) and a passed deadline still run the exit handler, as in Argo.
            stopping, self.stopping = self.stopping, None
            try:
                node = self.execute(exit_name, exit_name, exit_template, _EMPTY_ARGS,
                                    Scope(self.state, self.globals), None, None, force=True)
            finally:
                self.stopping = stopping
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
        from engine.phases import workflow_status_of

        failures = [
            {"displayName": n.display_name, "message": n.message, "templateName": n.template_name or "",
             "phase": n.phase.value, "podName": n.id,
             "finishedAt": node_attribute(n, "finishedAt") or ""}
            for n in self.state.nodes.values()
            if n.type is NodeType.POD and n.phase.is_failure
        ]
        return {
            "workflow.status": workflow_status_of(entry.phase).value,
            "workflow.failures": json.dumps(failures, separators=(",", ":")),
        }

    # -- templates ------------------------------------------------------------------------
    def execute(self, name: str, display: str, template: Template, args: ResolvedArgs | None,
                scope: Scope, boundary_id: str | None, parent: NodeRecord | None,
                *, force: bool = False) -> NodeRecord | None:
        """Argo's executeTemplate: create the node for a template call, or advance it."""
        node = self.state.get(name)
        if node is not None and node.phase.is_fulfilled:
            return node
        if node is None:
            if not force and not self._may_start(template, boundary_id):
                return None
            try:
                bound, inputs = bind_inputs(template, args or _EMPTY_ARGS, scope)
            except (BindingError, ExpressionError) as exc:
                node = self.state.create(name, display, _node_type(template), template_name=template.name,
                                         boundary_id=boundary_id, parent=parent)
                self.state.transition(node, NodePhase.ERROR, "bad arguments", str(exc))
                return node
            node_type = NodeType.RETRY if bound.retry_strategy is not None else _node_type(bound)
            node = self.state.create(name, display, node_type, template_name=template.name,
                                     boundary_id=boundary_id, parent=parent, inputs=inputs)
            self._note_started(node)
            self._bound[node.id] = bound
        bound = self._bound_template(node, template, scope)
        if node.type is NodeType.RETRY:
            self._execute_retry(node, bound, scope, boundary_id)
        else:
            self._execute_body(node, bound, boundary_id)
        self._fail_if_stopped(node)
        return node

    def _fail_if_stopped(self, node: NodeRecord) -> None:
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
        bound = self._bound.get(node.id)
        if bound is None:  # resumed from the database: re-bind from the recorded inputs
            args = ResolvedArgs(node.inputs.get("parameters", {}),
                                {k: {kk: vv for kk, vv in v.items() if kk != "path"}
                                 for k, v in node.inputs.get("artifacts", {}).items()})
            bound, _ = bind_inputs(template, args, scope)
            self._bound[node.id] = bound
        return bound

    def bound_template(self, node: NodeRecord) -> Template:
        return self._bound[node.id]

    def _note_started(self, node: NodeRecord) -> None:
        if node.type in (NodeType.POD, NodeType.DAG, NodeType.STEPS):
            if node.boundary_id is not None:
                self._active_in[node.boundary_id] += 1
            if node.type is NodeType.POD:
                self._active_pods += 1

    def _may_start(self, template: Template, boundary_id: str | None) -> bool:
        if self.stopping is not None:
            return False
        limit = self.library.parallelism
        if limit is not None and template.kind in _POD_KINDS and self._active_pods >= limit:
            return False
        if boundary_id is not None:
            boundary = self.state.nodes[boundary_id]
            boundary_template = self._bound.get(boundary_id)
            if boundary_template is not None and boundary_template.parallelism is not None:
                return self._active_in[boundary.id] < boundary_template.parallelism
        return True

    def _execute_body(self, node: NodeRecord, bound: Template, boundary_id: str | None) -> NodeRecord:
        kind = bound.kind
        if kind in _POD_KINDS:
            if node.phase is NodePhase.PENDING and node.handle is None and node.id not in self._queued:
                if self.stopping is not None:
                    self.state.transition(node, NodePhase.FAILED, "stopped", self.stopping)
                else:
                    self._queued.add(node.id)
                    self.launch_queue.append(node)
            return node
        if kind is TemplateKind.SUSPEND:
            return self._execute_suspend(node, bound)
        if kind is TemplateKind.DAG:
            return self._execute_dag(node, bound)
        if kind is TemplateKind.STEPS:
            return self._execute_steps(node, bound)
        self.state.transition(node, NodePhase.ERROR, "unsupported",
                              f"{kind.value} templates are not supported by the local engine")
        return node

    def launched(self, node: NodeRecord) -> None:
        """The executor started (or finished) the queued pod; forget it."""
        self._queued.discard(node.id)

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
            for p in bound.outputs.parameters:
                supplied = node.extra.get("supplied", {}).get(p.name)
                default = p.value_from.default if p.value_from else None
                value = supplied if supplied is not None else (default if default is not None else p.value)
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
    def _execute_retry(self, node: NodeRecord, bound: Template, scope: Scope, boundary_id: str | None) -> NodeRecord:
        if node.phase is NodePhase.PENDING:
            self.state.transition(node, NodePhase.RUNNING, "retry node started")
        children = [self.state.nodes[c] for c in node.children]
        last = children[-1] if children else None
        if last is not None and not last.phase.is_fulfilled:
            self._execute_body(last, bound, boundary_id)
            if not last.phase.is_fulfilled:
                return node
        if last is not None:
            assert bound.retry_strategy is not None
            decision: RetryDecision = decide_retry(bound.retry_strategy, children, self.clock(),
                                                   deadline_passed=self.stopping is not None)
            if decision.done:
                node.outputs = dict(last.outputs)
                node.exit_code = last.exit_code
                self.state.transition(node, decision.phase, "retries finished", decision.message)
                return node
            node.extra["next_attempt_at"] = decision.next_attempt_at
            if decision.next_attempt_at > self.clock():
                self._wake_at(decision.next_attempt_at)
                return node
        if not self._may_start(bound, boundary_id):
            return node
        attempt = len(children)
        child = self.state.create(f"{node.name}({attempt})", f"{node.display_name}({attempt})",
                                  _node_type(bound), template_name=node.template_name,
                                  boundary_id=boundary_id, parent=node, inputs=node.inputs, attempt=attempt)
        self._note_started(child)
        self._bound[child.id] = bound  # `{{retries}}` is filled per attempt when the pod is built
        self._execute_body(child, bound, boundary_id)
        return node

    # -- DAG ------------------------------------------------------------------------------
    def _plan(self, node: NodeRecord, bound: Template) -> DagPlan:
        plan = self._plans.get(node.id)
        if plan is None:
            assert bound.dag is not None
            plan = plan_dag(bound.dag)
            self._plans[node.id] = plan
        return plan

    def _execute_dag(self, node: NodeRecord, bound: Template) -> NodeRecord:
        if node.phase is NodePhase.PENDING:
            self.state.transition(node, NodePhase.RUNNING, "dag started")
        plan = self._plan(node, bound)
        prefix = node.name + "."
        state = self.state

        def lookup(task: str) -> NodeRecord | list[NodeRecord] | None:
            found = state.by_name.get(prefix + task)
            if found is not None and found.type is NodeType.TASK_GROUP:
                return [state.nodes[c] for c in found.children]
            return found

        scope = Scope(state, self.globals, node.inputs, "tasks", lookup)
        visited: set[str] = set()
        for target in plan.targets:
            self._dag_task(node, plan, target, visited, scope)
        phase, failed = self._assess_dag(node, plan)
        if phase is NodePhase.RUNNING:
            return node
        if phase.is_failure:
            message = f"child '{failed.name}' {phase.value.lower()}" if failed is not None else ""
            self.state.transition(node, phase, "dag assessed", message)
            return node
        self._finish_invocation_parent(node, bound, scope)
        return node

    def _dag_task(self, dag: NodeRecord, plan: DagPlan, name: str, visited: set[str], scope: Scope) -> None:
        if name in visited:
            return
        visited.add(name)
        task = plan.tasks[name]
        node_name = f"{dag.name}.{name}"
        node = self.state.by_name.get(node_name)
        if node is not None:
            self._advance_invocation(node, task, scope, dag.id)
            return
        deps = plan.deps[name]
        for dep in deps:
            self._dag_task(dag, plan, dep, visited, scope)
        if not all(self._invocation_done(f"{dag.name}.{d}", plan.tasks[d]) for d in deps):
            return
        expression = plan.depends.get(name)
        if expression is not None and not expression.evaluate(self._depends_resolver(dag, plan)):
            skipped = self.state.create(node_name, name, NodeType.SKIPPED, template_name=task.template,
                                        boundary_id=dag.id, parent=dag)
            self.state.transition(skipped, NodePhase.OMITTED, "depends", "omitted: depends condition not met")
            return
        self._start_invocation(task, node_name, name, scope, dag.id, dag)

    def _depends_resolver(self, dag: NodeRecord, plan: DagPlan) -> Callable[[str, TaskResult | None], bool]:
        def resolve(task: str, result: TaskResult | None) -> bool:
            node = self.state.by_name[f"{dag.name}.{task}"]
            phase = node.phase
            if result is None:
                cont = plan.tasks[task].continue_on
                return (phase in (NodePhase.SUCCEEDED, NodePhase.SKIPPED)
                        or (phase is NodePhase.FAILED and bool(cont and cont.failed))
                        or (phase is NodePhase.ERROR and bool(cont and cont.error)))
            if result is TaskResult.ANY_SUCCEEDED or result is TaskResult.ALL_FAILED:
                if node.type is not NodeType.TASK_GROUP:
                    raise ExpressionError(f"{task}.{result.value} needs a task with withItems/withParam/withSequence")
                children = [self.state.nodes[c] for c in node.children]
                if result is TaskResult.ANY_SUCCEEDED:
                    return any(c.phase is NodePhase.SUCCEEDED for c in children)
                return bool(children) and all(c.phase.is_failure for c in children)
            return _RESULT_PHASE.get(result) is phase
        return resolve

    def _assess_dag(self, dag: NodeRecord, plan: DagPlan) -> tuple[NodePhase, NodeRecord | None]:
        """Argo's assessDAGPhase: branch phases flow through Omitted/Skipped nodes to the targets."""
        branch: dict[str, tuple[NodePhase, NodeRecord | None]] = {}
        for name in plan.order:
            node = self.state.by_name.get(f"{dag.name}.{name}")
            if node is None or not self._invocation_done(node.name, plan.tasks[name]):
                return NodePhase.RUNNING, None
            if node.phase.is_completed:
                branch[name] = (node.phase, node if node.phase.is_failure else None)
            else:
                inherited: tuple[NodePhase, NodeRecord | None] = (NodePhase.SUCCEEDED, None)
                for dep in plan.deps[name]:
                    if branch[dep][0].is_failure:
                        inherited = branch[dep]
                        break
                branch[name] = inherited
        result: tuple[NodePhase, NodeRecord | None] = (NodePhase.SUCCEEDED, None)
        for target in plan.targets:
            phase, culprit = branch[target]
            if phase.is_failure and not _continues_on(plan.tasks[target], phase):
                result = (phase, culprit)
                if plan.fail_fast:
                    break
        return result

    # -- steps ----------------------------------------------------------------------------
    def _execute_steps(self, node: NodeRecord, bound: Template) -> NodeRecord:
        if node.phase is NodePhase.PENDING:
            self.state.transition(node, NodePhase.RUNNING, "steps started")
        assert bound.steps is not None
        groups = bound.steps
        where = {step.name: i for i, group in enumerate(groups) for step in group}
        state = self.state

        def lookup(step: str) -> NodeRecord | list[NodeRecord] | None:
            if step not in where:
                return None
            found = state.by_name.get(f"{node.name}[{where[step]}].{step}")
            if found is not None and found.type is NodeType.TASK_GROUP:
                return [state.nodes[c] for c in found.children]
            return found

        scope = Scope(state, self.globals, node.inputs, "steps", lookup)
        for index, group in enumerate(groups):
            group_name = f"{node.name}[{index}]"
            group_node = state.by_name.get(group_name)
            if group_node is None:
                group_node = state.create(group_name, f"[{index}]", NodeType.STEP_GROUP,
                                          template_name=node.template_name, boundary_id=node.id, parent=node)
                state.transition(group_node, NodePhase.RUNNING, "step group started")
            if not group_node.phase.is_fulfilled:
                self._advance_step_group(group_node, group, scope, node.id)
                if not group_node.phase.is_fulfilled:
                    return node
            if group_node.phase.is_failure:
                state.transition(node, group_node.phase, "step group failed", group_node.message)
                return node
        self._finish_invocation_parent(node, bound, scope)
        return node

    def _advance_step_group(self, group: NodeRecord, steps: list[WorkflowStep], scope: Scope, boundary_id: str) -> None:
        done = True
        for step in steps:
            name = f"{group.name}.{step.name}"
            node = self.state.by_name.get(name)
            if node is None:
                self._start_invocation(step, name, step.name, scope, boundary_id, group)
            else:
                self._advance_invocation(node, step, scope, boundary_id)
            if not self._invocation_done(name, step):
                done = False
        if not done:
            self._fail_if_stopped(group)
            return
        for step in steps:
            node = self.state.by_name[f"{group.name}.{step.name}"]
            if node.phase.is_failure and not _continues_on(step, node.phase):
                self.state.transition(group, NodePhase.FAILED, "step failed",
                                      node.message if node.type is not NodeType.POD or not node.message
                                      else f"child '{node.name}' failed")
                return
        self.state.transition(group, NodePhase.SUCCEEDED, "step group done")

    # -- invocations (shared by DAG tasks and steps) ----------------------------------------
    def _start_invocation(self, inv: _Invocation, name: str, display: str, scope: Scope,
                          boundary_id: str, parent: NodeRecord) -> None:
        template = self.library.for_invocation(inv)
        try:
            items = expand_loop(inv, scope)
        except (LoopError, ExpressionError) as exc:
            node = self.state.create(name, display, NodeType.SKIPPED, template_name=template.name,
                                     boundary_id=boundary_id, parent=parent)
            self.state.transition(node, NodePhase.ERROR, "bad loop", str(exc))
            return
        if items is None:
            if not self._when_allows(inv, scope, name, display, template, boundary_id, parent):
                return
            try:
                args = resolve_arguments(inv.arguments, scope)
            except (BindingError, ExpressionError) as exc:
                node = self.state.create(name, display, _node_type(template), template_name=template.name,
                                         boundary_id=boundary_id, parent=parent)
                self.state.transition(node, NodePhase.ERROR, "bad arguments", str(exc))
                return
            node = self.execute(name, display, template, args, scope, boundary_id, parent)
            if node is not None:
                node.extra["output_defaults"] = _output_defaults(template)
            return
        if not items:
            node = self.state.create(name, display, NodeType.SKIPPED, template_name=template.name,
                                     boundary_id=boundary_id, parent=parent)
            self.state.transition(node, NodePhase.SKIPPED, "empty loop", "Skipped, empty params")
            return
        group = self.state.create(name, display, NodeType.TASK_GROUP, template_name=template.name,
                                  boundary_id=boundary_id, parent=parent, extra={"items": items})
        self.state.transition(group, NodePhase.RUNNING, "fan-out started")
        self._advance_group(group, inv, scope, boundary_id)

    def _when_allows(self, inv: _Invocation, scope: Scope, name: str, display: str, template: Template,
                     boundary_id: str, parent: NodeRecord) -> bool:
        if not inv.when:
            return True
        try:
            text = render(inv.when, scope)
            allowed = evaluate_when(text)
        except ExpressionError as exc:
            node = self.state.create(name, display, NodeType.SKIPPED, template_name=template.name,
                                     boundary_id=boundary_id, parent=parent)
            self.state.transition(node, NodePhase.ERROR, "bad when", f"invalid when: {exc}")
            return False
        if not allowed:
            node = self.state.create(name, display, NodeType.SKIPPED, template_name=template.name,
                                     boundary_id=boundary_id, parent=parent)
            node.extra["output_defaults"] = _output_defaults(template)
            self.state.transition(node, NodePhase.SKIPPED, "when", f"when '{text}' evaluated false")
        return allowed

    def _advance_invocation(self, node: NodeRecord, inv: _Invocation, scope: Scope, boundary_id: str) -> None:
        if not node.phase.is_fulfilled:
            if node.type is NodeType.TASK_GROUP:
                self._advance_group(node, inv, scope, boundary_id)
            else:
                self.execute(node.name, node.display_name, self.library.for_invocation(inv), None, scope,
                             boundary_id, None)
        if node.phase.is_completed:
            self._run_exit_hook(node, inv, scope, boundary_id)

    def _advance_group(self, group: NodeRecord, inv: _Invocation, scope: Scope, boundary_id: str) -> None:
        items = group.extra["items"]
        template = self.library.for_invocation(inv)
        boundary_template = self._bound.get(boundary_id)
        # A template with `failFast: true` starts no further loop children once one failed.
        fail_fast = boundary_template is not None and boundary_template.fail_fast is True
        all_done = True
        for index, item in enumerate(items):
            label = f"({index}:{item_label(item)})"
            name = group.name + label
            child = self.state.by_name.get(name)
            if child is not None and child.phase.is_fulfilled:
                continue
            item_scope = scope.with_item(item)
            if child is None and fail_fast and any(
                    self.state.nodes[c].phase.is_failure for c in group.children):
                continue
            if child is None:
                display = inv.name + label
                if self._when_allows(inv, item_scope, name, display, template, boundary_id, group):
                    try:
                        args = resolve_arguments(inv.arguments, item_scope)
                    except (BindingError, ExpressionError) as exc:
                        child = self.state.create(name, display, _node_type(template), template_name=template.name,
                                                  boundary_id=boundary_id, parent=group)
                        self.state.transition(child, NodePhase.ERROR, "bad arguments", str(exc))
                        continue
                    child = self.execute(name, display, template, args, item_scope, boundary_id, group)
            else:
                child = self.execute(name, child.display_name, template, None, item_scope, boundary_id, group)
            if child is None or not child.phase.is_fulfilled:
                all_done = False
        children = [self.state.nodes[c] for c in group.children]
        if fail_fast and any(c.phase.is_failure for c in children) and all(c.phase.is_fulfilled for c in children):
            all_done = True
        if not all_done:
            self._fail_if_stopped(group)
            return
        failed = next((c for c in children if c.phase.is_failure), None)
        if failed is not None:
            self.state.transition(group, failed.phase, "fan-out child failed", f"child '{failed.name}' failed")
        else:
            self.state.transition(group, NodePhase.SUCCEEDED, "fan-out done")

    def _exit_hook(self, inv: _Invocation) -> str | None:
        if inv.hooks and "exit" in inv.hooks and inv.hooks["exit"].template:
            return inv.hooks["exit"].template
        return inv.on_exit

    def _run_exit_hook(self, node: NodeRecord, inv: _Invocation, scope: Scope, boundary_id: str) -> None:
        hook_template = self._exit_hook(inv)
        if hook_template is None:
            return
        hook = inv.hooks.get("exit") if inv.hooks else None
        prefix = "tasks" if isinstance(inv, DAGTask) else "steps"
        hook_scope = scope.with_extra(**{f"{prefix}.{inv.name}.status": node.phase.value})
        name = f"{node.name}.onExit"
        if self.state.by_name.get(name) is None:
            try:
                args = resolve_arguments(hook.arguments, hook_scope) if hook and hook.arguments else _EMPTY_ARGS
            except (BindingError, ExpressionError) as exc:
                err = self.state.create(name, name.rsplit(".", 1)[-1], NodeType.POD, boundary_id=boundary_id, parent=node)
                self.state.transition(err, NodePhase.ERROR, "bad hook arguments", str(exc))
                return
        else:
            args = None
        self.execute(name, f"{inv.name}.onExit", self.library.named(hook_template), args, hook_scope,
                     boundary_id, node, force=True)

    def _invocation_done(self, name: str, inv: _Invocation) -> bool:
        node = self.state.by_name.get(name)
        if node is None or not node.phase.is_fulfilled:
            return False
        if node.phase.is_completed and self._exit_hook(inv) is not None:
            hook = self.state.by_name.get(f"{name}.onExit")
            return hook is not None and hook.phase.is_fulfilled
        return True

    # -- outputs of DAG/steps templates ---------------------------------------------------------
    def _finish_invocation_parent(self, node: NodeRecord, bound: Template, scope: Scope) -> None:
        try:
            node.outputs = self.parent_outputs(bound, scope)
        except KubepipeError as exc:
            self.state.transition(node, NodePhase.ERROR, "outputs", str(exc))
            return
        self.state.transition(node, NodePhase.SUCCEEDED, "children succeeded")

    def parent_outputs(self, bound: Template, scope: Scope) -> dict[str, Any]:
        from engine.expressions import evaluate_expr

        outputs: dict[str, Any] = {}
        params: dict[str, str] = {}
        for p in bound.outputs.parameters:
            value: str | None = None
            vf = p.value_from
            try:
                if vf is not None and vf.parameter:
                    value = render(vf.parameter, scope)
                elif vf is not None and vf.expression:
                    from engine.binding import _expr_text

                    value = _expr_text(evaluate_expr(vf.expression, scope.expression_env()))
                elif p.value is not None:
                    value = render(p.value, scope)
            except ExpressionError:
                if vf is None or vf.default is None:
                    raise
            if (value is None or value == "") and vf is not None and vf.default is not None:
                value = vf.default
            if value is None:
                raise BindingError(f"output parameter {p.name!r} has no value; give it valueFrom.parameter or a default")
            params[p.name] = value
            if p.global_name:
                self._publish_global("parameters", p.global_name, value)
        if params:
            outputs["parameters"] = params
        artifacts: dict[str, Any] = {}
        for a in bound.outputs.artifacts:
            from engine.binding import _artifact_source

            source = _artifact_source(a.from_, a.from_expression, None, None, scope, a.name)
            if source is None:
                if a.optional:
                    continue
                raise BindingError(f"output artifact {a.name!r}: {a.from_ or a.from_expression!r} does not exist")
            artifacts[a.name] = source
            if a.global_name:
                self._publish_global("artifacts", a.global_name, source)
        if artifacts:
            outputs["artifacts"] = artifacts
        return outputs

    def _publish_global(self, kind: str, name: str, value: Any) -> None:
        run = self.state.run
        run.outputs.setdefault(kind, {})[name] = value
        self.state.run_dirty = True
        if kind == "parameters":
            self.globals[f"workflow.outputs.parameters.{name}"] = value

    def publish_global(self, kind: str, name: str, value: Any) -> None:
        self._publish_global(kind, name, value)


_RESULT_PHASE = {
    TaskResult.SUCCEEDED: NodePhase.SUCCEEDED,
    TaskResult.FAILED: NodePhase.FAILED,
    TaskResult.ERRORED: NodePhase.ERROR,
    TaskResult.SKIPPED: NodePhase.SKIPPED,
    TaskResult.OMITTED: NodePhase.OMITTED,
}


def _node_type(template: Template) -> NodeType:
    kind = template.kind
    if kind is TemplateKind.DAG:
        return NodeType.DAG
    if kind is TemplateKind.STEPS:
        return NodeType.STEPS
    if kind is TemplateKind.SUSPEND:
        return NodeType.SUSPEND
    return NodeType.POD


def _continues_on(inv: _Invocation, phase: NodePhase) -> bool:
    cont = inv.continue_on
    if cont is None:
        return False
    return (phase is NodePhase.FAILED and cont.failed) or (phase is NodePhase.ERROR and cont.error)


def _output_defaults(template: Template) -> dict[str, str]:
    return {p.name: p.value_from.default for p in template.outputs.parameters
            if p.value_from is not None and p.value_from.default is not None}
