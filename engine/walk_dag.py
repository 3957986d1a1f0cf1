"""DAG templates: tasks start when their `depends` hold, and the DAG's phase is assessed as Argo's
`assessDAGPhase` does (branch phases flow through Omitted/Skipped tasks to the targets)."""

from __future__ import annotations

from collections.abc import Callable
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
    visited: set[str] = set()
    for target in plan.targets:
        dag_task(op, node, plan, target, visited, scope)
    phase, failed = assess_dag(op, node, plan)
    if phase is NodePhase.RUNNING:
        return node
    if phase.is_failure:
        message = f"child '{failed.name}' {phase.value.lower()}" if failed is not None else ""
        op.state.transition(node, phase, "dag assessed", message)
        return node
    op.finish_parent(node, bound, scope)
    return node


def dag_task(
    op: Operator, dag: NodeRecord, plan: DagPlan, name: str, visited: set[str], scope: Scope
) -> None:
    """Argo's executeDAGTask: advance a task, after walking the dependencies it waits for."""
    if name in visited:
        return
    visited.add(name)
    done = op.dag_done.setdefault(dag.id, set())
    if name in done:  # fulfilled (with its hooks) on an earlier walk: nothing can change it
        return
    task = plan.tasks[name]
    node_name = f"{dag.name}.{name}"
    node = op.state.by_name.get(node_name)
    if node is not None:
        advance_invocation(op, node, task, scope, dag.id)
        if invocation_done(op, node_name, task):
            done.add(name)
        return
    deps = plan.deps[name]
    for dep in deps:
        dag_task(op, dag, plan, dep, visited, scope)
    if not all(d in done for d in deps):
        return
    expression = plan.depends.get(name)
    try:
        allowed = expression is None or expression.evaluate(depends_resolver(op, dag, plan))
    except ExpressionError as exc:
        failed = op.state.create(
            node_name,
            name,
            NodeType.SKIPPED,
            template_name=task.template,
            boundary_id=dag.id,
            parent=dag,
        )
        op.state.transition(failed, NodePhase.ERROR, "depends", f"invalid depends: {exc}")
        return
    if not allowed:
        skipped = op.state.create(
            node_name,
            name,
            NodeType.SKIPPED,
            template_name=task.template,
            boundary_id=dag.id,
            parent=dag,
        )
        op.state.transition(
            skipped, NodePhase.OMITTED, "depends", "omitted: depends condition not met"
        )
        return
    start_invocation(op, task, node_name, name, scope, dag.id, dag)


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


def assess_dag(op: Operator, dag: NodeRecord, plan: DagPlan) -> tuple[NodePhase, NodeRecord | None]:
    """Argo's assessDAGPhase: branch phases flow through Omitted/Skipped nodes to the targets.

    A task's branch phase never changes once it is fulfilled, so it is computed once per task.
    """
    branch = op.dag_branches.setdefault(dag.id, {})
    done = op.dag_done.setdefault(dag.id, set())
    for name in plan.order:
        if name in branch:
            continue
        node = op.state.by_name.get(f"{dag.name}.{name}")
        if node is None or not (name in done or invocation_done(op, node.name, plan.tasks[name])):
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
        if phase.is_failure and not continues_on(plan.tasks[target], phase):
            result = (phase, culprit)
            if plan.fail_fast:
                break
    return result
