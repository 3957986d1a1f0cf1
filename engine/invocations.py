"""Calls of a template from a DAG task or a step: `when`, loops, arguments, exit hooks.

DAG tasks and steps share all of this; only how they find their siblings differs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.binding import EMPTY_ARGS, BindingError, render, resolve_arguments
from engine.errors import ExpressionError
from engine.expressions import evaluate_when
from engine.loops import LoopError, expand_loop
from engine.phases import NodePhase, NodeType
from engine.scope import Scope
from engine.spec import DAGTask, Template, _Invocation
from engine.state import NodeRecord
from engine.values import item_label

if TYPE_CHECKING:
    from engine.operator import Operator


def start_invocation(
    op: Operator,
    inv: _Invocation,
    name: str,
    display: str,
    scope: Scope,
    boundary_id: str,
    parent: NodeRecord,
) -> None:
    template = op.library.for_invocation(inv)
    try:
        items = expand_loop(inv, scope)
    except (LoopError, ExpressionError) as exc:
        op.state.create_settled(
            name,
            display,
            NodeType.SKIPPED,
            NodePhase.ERROR,
            "bad loop",
            str(exc),
            template_name=template.name,
            boundary_id=boundary_id,
            parent=parent,
        )
        return
    if items is None:
        if not when_allows(op, inv, scope, name, display, template, boundary_id, parent):
            return
        call_template(op, inv, template, name, display, scope, boundary_id, parent)
        return
    if not items:
        op.state.create_settled(
            name,
            display,
            NodeType.SKIPPED,
            NodePhase.SKIPPED,
            "empty loop",
            "Skipped, empty params",
            template_name=template.name,
            boundary_id=boundary_id,
            parent=parent,
        )
        return
    group = op.state.create(
        name,
        display,
        NodeType.TASK_GROUP,
        template_name=template.name,
        boundary_id=boundary_id,
        parent=parent,
        extra={"items": items},
    )
    op.state.transition(group, NodePhase.RUNNING, "fan-out started")
    advance_group(op, group, inv, scope, boundary_id)


def call_template(
    op: Operator,
    inv: _Invocation,
    template: Template,
    name: str,
    display: str,
    scope: Scope,
    boundary_id: str,
    parent: NodeRecord,
) -> NodeRecord | None:
    """Resolve the call's arguments in the caller's scope and execute the template.

    Arguments that cannot be resolved end the call as an Error node saying why. Returns None when
    a parallelism limit holds the call back.
    """
    try:
        args = resolve_arguments(inv.arguments, scope)
    except (BindingError, ExpressionError) as exc:
        return op.bad_arguments(name, display, template, boundary_id, parent, exc)
    node = op.execute(name, display, template, args, scope, boundary_id, parent)
    if node is not None and "output_defaults" not in node.extra:
        node.extra["output_defaults"] = output_defaults(template)
    return node


def when_allows(
    op: Operator,
    inv: _Invocation,
    scope: Scope,
    name: str,
    display: str,
    template: Template,
    boundary_id: str,
    parent: NodeRecord,
) -> bool:
    if not inv.when:
        return True
    try:
        text = render(inv.when, scope)
        allowed = evaluate_when(text)
    except ExpressionError as exc:
        node = op.state.create_settled(
            name,
            display,
            NodeType.SKIPPED,
            NodePhase.ERROR,
            "bad when",
            f"invalid when: {exc}",
            template_name=template.name,
            boundary_id=boundary_id,
            parent=parent,
        )
        return False
    if not allowed:
        node = op.state.create(
            name,
            display,
            NodeType.SKIPPED,
            template_name=template.name,
            boundary_id=boundary_id,
            parent=parent,
        )
        node.extra["output_defaults"] = output_defaults(template)
        op.state.transition(node, NodePhase.SKIPPED, "when", f"when '{text}' evaluated false")
    return allowed


def advance_invocation(
    op: Operator, node: NodeRecord, inv: _Invocation, scope: Scope, boundary_id: str
) -> None:
    if not node.phase.is_fulfilled:
        if node.type is NodeType.TASK_GROUP:
            advance_group(op, node, inv, scope, boundary_id)
        else:
            op.execute(
                node.name,
                node.display_name,
                op.library.for_invocation(inv),
                None,
                scope,
                boundary_id,
                None,
            )
    if node.phase.is_completed:
        run_exit_hook(op, node, inv, scope, boundary_id)


def advance_group(
    op: Operator, group: NodeRecord, inv: _Invocation, scope: Scope, boundary_id: str
) -> None:
    items = group.extra["items"]
    template = op.library.for_invocation(inv)
    boundary_template = op.bound_templates.get(boundary_id)
    # A template with `failFast: true` starts no further loop children once one failed.
    fail_fast = boundary_template is not None and boundary_template.fail_fast is True
    all_done = True
    for index, item in enumerate(items):
        label = f"({index}:{item_label(item)})"
        name = group.name + label
        child = op.state.by_name.get(name)
        if child is not None and child.phase.is_fulfilled:
            continue
        item_scope = scope.with_item(item)
        if (
            child is None
            and fail_fast
            and any(op.state.nodes[c].phase.is_failure for c in group.children)
        ):
            continue
        if child is None:
            display = inv.name + label
            if when_allows(op, inv, item_scope, name, display, template, boundary_id, group):
                child = call_template(
                    op, inv, template, name, display, item_scope, boundary_id, group
                )
        else:
            child = op.execute(
                name, child.display_name, template, None, item_scope, boundary_id, group
            )
        if child is None or not child.phase.is_fulfilled:
            all_done = False
    children = [op.state.nodes[c] for c in group.children]
    if (
        fail_fast
        and any(c.phase.is_failure for c in children)
        and all(c.phase.is_fulfilled for c in children)
    ):
        all_done = True
    if not all_done:
        op.fail_if_stopped(group)
        return
    failed = next((c for c in children if c.phase.is_failure), None)
    if failed is not None:
        op.state.transition(
            group, failed.phase, "fan-out child failed", f"child '{failed.name}' failed"
        )
    else:
        op.state.transition(group, NodePhase.SUCCEEDED, "fan-out done")


def exit_hook_template(op: Operator, inv: _Invocation) -> str | None:
    if inv.hooks and "exit" in inv.hooks and inv.hooks["exit"].template:
        return inv.hooks["exit"].template
    return inv.on_exit


def run_exit_hook(
    op: Operator, node: NodeRecord, inv: _Invocation, scope: Scope, boundary_id: str
) -> None:
    hook_template = exit_hook_template(op, inv)
    if hook_template is None:
        return
    hook = inv.hooks.get("exit") if inv.hooks else None
    prefix = "tasks" if isinstance(inv, DAGTask) else "steps"
    hook_scope = scope.with_extra(**{f"{prefix}.{inv.name}.status": node.phase.value})
    name = f"{node.name}.onExit"
    if op.state.by_name.get(name) is None:
        try:
            args = (
                resolve_arguments(hook.arguments, hook_scope)
                if hook and hook.arguments
                else EMPTY_ARGS
            )
        except (BindingError, ExpressionError) as exc:
            err = op.state.create(
                name, name.rsplit(".", 1)[-1], NodeType.POD, boundary_id=boundary_id, parent=node
            )
            op.state.transition(err, NodePhase.ERROR, "bad hook arguments", str(exc))
            return
    else:
        args = None
    op.execute(
        name,
        f"{inv.name}.onExit",
        op.library.named(hook_template),
        args,
        hook_scope,
        boundary_id,
        node,
        force=True,
    )


def invocation_done(op: Operator, name: str, inv: _Invocation) -> bool:
    node = op.state.by_name.get(name)
    if node is None or not node.phase.is_fulfilled:
        return False
    if node.phase.is_completed and exit_hook_template(op, inv) is not None:
        hook = op.state.by_name.get(f"{name}.onExit")
        return hook is not None and hook.phase.is_fulfilled
    return True


# -- outputs of DAG/steps templates ---------------------------------------------------------


def continues_on(inv: _Invocation, phase: NodePhase) -> bool:
    cont = inv.continue_on
    if cont is None:
        return False
    return (phase is NodePhase.FAILED and cont.failed) or (phase is NodePhase.ERROR and cont.error)


def output_defaults(template: Template) -> dict[str, str]:
    return {
        p.name: p.value_from.default
        for p in template.outputs.parameters
        if p.value_from is not None and p.value_from.default is not None
    }
