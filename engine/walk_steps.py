"""Steps templates: groups run one after another, the steps of a group in parallel."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.invocations import advance_invocation, continues_on, invocation_done, start_invocation
from engine.phases import NodePhase, NodeType
from engine.scope import Scope
from engine.spec import Template, WorkflowStep
from engine.state import NodeRecord

if TYPE_CHECKING:
    from engine.operator import Operator


def execute_steps(op: Operator, node: NodeRecord, bound: Template) -> NodeRecord:
    if node.phase is NodePhase.PENDING:
        op.state.transition(node, NodePhase.RUNNING, "steps started")
    assert bound.steps is not None
    groups = bound.steps
    where = {step.name: i for i, group in enumerate(groups) for step in group}
    state = op.state

    def lookup(step: str) -> NodeRecord | list[NodeRecord] | None:
        if step not in where:
            return None
        found = state.by_name.get(f"{node.name}[{where[step]}].{step}")
        if found is not None and found.type is NodeType.TASK_GROUP:
            return [state.nodes[c] for c in found.children]
        return found

    scope = Scope(state, op.globals, node.inputs, "steps", lookup)
    for index, group in enumerate(groups):
        group_name = f"{node.name}[{index}]"
        group_node = state.by_name.get(group_name)
        if group_node is None:
            group_node = state.create(
                group_name,
                f"[{index}]",
                NodeType.STEP_GROUP,
                template_name=node.template_name,
                boundary_id=node.id,
                parent=node,
            )
            state.transition(group_node, NodePhase.RUNNING, "step group started")
        if not group_node.phase.is_fulfilled:
            advance_step_group(op, group_node, group, scope, node.id)
            if not group_node.phase.is_fulfilled:
                return node
        if group_node.phase.is_failure:
            state.transition(node, group_node.phase, "step group failed", group_node.message)
            return node
    op.finish_parent(node, bound, scope)
    return node


def advance_step_group(
    op: Operator, group: NodeRecord, steps: list[WorkflowStep], scope: Scope, boundary_id: str
) -> None:
    done = True
    for step in steps:
        name = f"{group.name}.{step.name}"
        node = op.state.by_name.get(name)
        if node is None and op.pods_exhausted() and op.calls_pod(step):
            done = False  # it would only be refused; evaluating it costs more than skipping
            continue
        if node is None:
            start_invocation(op, step, name, step.name, scope, boundary_id, group)
        else:
            advance_invocation(op, node, step, scope, boundary_id)
        if not invocation_done(op, name, step):
            done = False
    if not done:
        op.fail_if_stopped(group)
        return
    for step in steps:
        node = op.state.by_name[f"{group.name}.{step.name}"]
        if node.phase.is_failure and not continues_on(step, node.phase):
            op.state.transition(
                group,
                NodePhase.FAILED,
                "step failed",
                node.message
                if node.type is not NodeType.POD or not node.message
                else f"child '{node.name}' failed",
            )
            return
    op.state.transition(group, NodePhase.SUCCEEDED, "step group done")


# -- invocations (shared by DAG tasks and steps) ----------------------------------------
