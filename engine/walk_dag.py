"""DAG templates: tasks start when their `depends` hold, and the DAG's phase is assessed as Argo's
`assessDAGPhase` does (branch phases flow through Omitted/Skipped tasks to the targets)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.dagplan import DagPlan, plan_dag
from engine.errors import ExpressionError
from engine.expressions import TaskResult
from engine.invocations import advance_invocation, continues_on, invocation_done, start_invocation
from engine.phases import NodePhase, NodeType
from engine.scope import Scope
from engine.spec import Template
from engine.state import NodeRecord

if TYPE_CHECKING:
    from engine.operator import Operator

_RESULT_PHASE = {
    TaskResult.SUCCEEDED: NodePhase.SUCCEEDED,
    TaskResult.FAILED: NodePhase.FAILED,
    TaskResult.ERRORED: NodePhase.ERROR,
    TaskResult.SKIPPED: NodePhase.SKIPPED,
    TaskResult.OMITTED: NodePhase.OMITTED,
}


def dag_plan(op: Operator, node: NodeRecord, bound: Template) -> DagPlan:
    plan = op.plans.get(node.id)
    if plan is None:
        assert bound.dag is not None
        plan = plan_dag(bound.dag)
        op.plans[node.id] = plan
    return plan


@dataclass
class DagProgress:
    """Where a DAG node stands, kept between walks so each walk touches only live tasks.

    Built from the persisted nodes the first time a (possibly restarted) engine walks the DAG;
    afterwards a task moves waiting -> ready -> started -> done, each move O(1), so a walk costs
    the number of running and ready tasks, not the size of the DAG.
    """

    done: set[str] = field(default_factory=set)  # fulfilled, exit hooks included
    started: dict[str, None] = field(default_factory=dict)  # node created, not done (ordered)
    ready: dict[str, None] = field(default_factory=dict)  # every dependency done, no node yet
    waiting_on: dict[str, int] = field(default_factory=dict)  # task -> dependencies not done
    branches: dict[str, tuple[NodePhase, NodeRecord | None]] = field(default_factory=dict)


def _progress(op: Operator, dag: NodeRecord, plan: DagPlan) -> DagProgress:
    progress = op.dag_progress.get(dag.id)
    if progress is not None:
        return progress
    progress = DagProgress()
    op.dag_progress[dag.id] = progress
    for name in plan.order:
        node = op.state.by_name.get(f"{dag.name}.{name}")
        if node is not None and invocation_done(op, node.name, plan.tasks[name]):
            progress.done.add(name)
        elif node is not None:
            progress.started[name] = None
    for name in plan.order:
        if name in progress.done or name in progress.started:
            continue
        missing = sum(1 for d in plan.deps[name] if d not in progress.done)
        progress.waiting_on[name] = missing
        if missing == 0:
            progress.ready[name] = None
    return progress


def _mark_done(progress: DagProgress, plan: DagPlan, name: str) -> None:
    progress.done.add(name)
    progress.started.pop(name, None)
    for dependent in plan.dependents[name]:
        if dependent in progress.waiting_on:
            progress.waiting_on[dependent] -= 1
            if progress.waiting_on[dependent] == 0:
                progress.ready[dependent] = None


def execute_dag(op: Operator, node: NodeRecord, bound: Template) -> NodeRecord:
    if node.phase is NodePhase.PENDING:
        op.state.transition(node, NodePhase.RUNNING, "dag started")
    plan = dag_plan(op, node, bound)
    prefix = node.name + "."
    state = op.state

    def lookup(task: str) -> NodeRecord | list[NodeRecord] | None:
        found = state.by_name.get(prefix + task)
        if found is not None and found.type is NodeType.TASK_GROUP:
            return [state.nodes[c] for c in found.children]
        return found

    scope = Scope(state, op.globals, node.inputs, "tasks", lookup)
    progress = _progress(op, node, plan)
    for name in list(progress.started):
        task_node = state.by_name[f"{node.name}.{name}"]
        advance_invocation(op, task_node, plan.tasks[name], scope, node.id)
        if invocation_done(op, task_node.name, plan.tasks[name]):
            _mark_done(progress, plan, name)
    # Starting a task can settle it at once (Omitted, Skipped, Error) and free its dependents, so
    # keep going until no ready task can start now (parallelism may hold some back).
    while progress.ready:
        moved = False
        for name in list(progress.ready):
            if op.pods_exhausted() and op.calls_pod(plan.tasks[name]):
                continue  # it would only be refused; evaluating it costs more than skipping
            started = start_task(op, node, plan, name, scope)
            if started is None:
                continue
            moved = True
            del progress.ready[name]
            progress.waiting_on.pop(name, None)
            if invocation_done(op, started.name, plan.tasks[name]):
                _mark_done(progress, plan, name)
            else:
                progress.started[name] = None
        if not moved:
            break
    phase, failed = assess_dag(op, node, plan, progress)
    if phase is NodePhase.RUNNING:
        return node
    if phase.is_failure:
        message = f"child '{failed.name}' {phase.value.lower()}" if failed is not None else ""
        op.state.transition(node, phase, "dag assessed", message)
        return node
    op.finish_parent(node, bound, scope)
    return node


def start_task(
    op: Operator, dag: NodeRecord, plan: DagPlan, name: str, scope: Scope
) -> NodeRecord | None:
    """A task whose dependencies are all fulfilled: evaluate `depends` and call its template.

    Returns the task's node, or None when nothing could be created yet (a parallelism limit).
    """
    task = plan.tasks[name]
    node_name = f"{dag.name}.{name}"
    expression = plan.depends.get(name)
    try:
        allowed = expression is None or expression.evaluate(depends_resolver(op, dag, plan))
    except ExpressionError as exc:
        failed = op.state.create_settled(
            node_name,
            name,
            NodeType.SKIPPED,
            NodePhase.ERROR,
            "depends",
            f"invalid depends: {exc}",
            template_name=task.template,
            boundary_id=dag.id,
            parent=dag,
        )
        return failed
    if not allowed:
        skipped = op.state.create_settled(
            node_name,
            name,
            NodeType.SKIPPED,
            NodePhase.OMITTED,
            "depends",
            "omitted: depends condition not met",
            template_name=task.template,
            boundary_id=dag.id,
            parent=dag,
        )
        return skipped
    start_invocation(op, task, node_name, name, scope, dag.id, dag)
    return op.state.by_name.get(node_name)


def depends_resolver(
    op: Operator, dag: NodeRecord, plan: DagPlan
) -> Callable[[str, TaskResult | None], bool]:
    def resolve(task: str, result: TaskResult | None) -> bool:
        node = op.state.by_name[f"{dag.name}.{task}"]
        phase = node.phase
        if result is None:
            cont = plan.tasks[task].continue_on
            return (
                phase in (NodePhase.SUCCEEDED, NodePhase.SKIPPED)
                or (phase is NodePhase.FAILED and bool(cont and cont.failed))
                or (phase is NodePhase.ERROR and bool(cont and cont.error))
            )
        if result is TaskResult.ANY_SUCCEEDED or result is TaskResult.ALL_FAILED:
            if node.type is not NodeType.TASK_GROUP:
                raise ExpressionError(
                    f"{task}.{result.value} needs a task with withItems/withParam/withSequence"
                )
            children = [op.state.nodes[c] for c in node.children]
            if result is TaskResult.ANY_SUCCEEDED:
                return any(c.phase is NodePhase.SUCCEEDED for c in children)
            return bool(children) and all(c.phase.is_failure for c in children)
        return _RESULT_PHASE.get(result) is phase

    return resolve


def assess_dag(
    op: Operator, dag: NodeRecord, plan: DagPlan, progress: DagProgress
) -> tuple[NodePhase, NodeRecord | None]:
    """Argo's assessDAGPhase: branch phases flow through Omitted/Skipped nodes to the targets.

    Every task in the targets' closure must be fulfilled first; a task's branch phase never
    changes after that, so it is computed once.
    """
    if len(progress.done) < len(plan.order):
        return NodePhase.RUNNING, None
    branch = progress.branches
    for name in plan.order:
        if name in branch:
            continue
        node = op.state.by_name[f"{dag.name}.{name}"]
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
        if phase.is_failure and not continues_on(plan.tasks[target], phase):
            result = (phase, culprit)
            if plan.fail_fast:
                break
    return result
