"""Calls of a template from a DAG task or a step: `when`, loops, arguments, exit hooks.

DAG tasks and steps share all of this; only how they find their siblings differs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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


@dataclass
class GroupProgress:
    """Where a loop stands, kept between walks so a walk costs its open children, not its items.

    Items are started in order; `next_index` is the first item whose child the walk has not
    taken up yet, `open` the items whose child exists and is not fulfilled. Built from the
    persisted children the first time a (possibly restarted) engine walks the group.
    """

    next_index: int = 0
    open: dict[int, None] = field(default_factory=dict)
    failed: bool = False  # some child failed (a failFast boundary starts no more)


def _child_name(group: NodeRecord, index: int, item: Any) -> str:
    return f"{group.name}({index}:{item_label(item)})"


def _group_progress(op: Operator, group: NodeRecord, items: list[Any]) -> GroupProgress:
    progress = op.group_progress.get(group.id)
    if progress is not None:
        return progress
    progress = GroupProgress()
    op.group_progress[group.id] = progress
    by_name = op.state.by_name
    progress.next_index = len(items)
    for index, item in enumerate(items):
        child = by_name.get(_child_name(group, index, item))
        if child is None:
            progress.next_index = min(progress.next_index, index)
        elif not child.phase.is_fulfilled:
            progress.open[index] = None
        elif child.phase.is_failure:
            progress.failed = True
    # Children beyond a gap (created out of order by an older engine) are met again, and taken
    # up as they are, when `next_index` reaches them.
    for index in [i for i in progress.open if i >= progress.next_index]:
        del progress.open[index]
    return progress


def advance_group(
    op: Operator, group: NodeRecord, inv: _Invocation, scope: Scope, boundary_id: str
) -> None:
    items = group.extra["items"]
    template = op.library.for_invocation(inv)
    boundary_template = op.bound_templates.get(boundary_id)
    # A template with `failFast: true` starts no further loop children once one failed.
    fail_fast = boundary_template is not None and boundary_template.fail_fast is True
    progress = _group_progress(op, group, items)
    state = op.state
    for index in list(progress.open):
        name = _child_name(group, index, items[index])
        child = state.by_name[name]
        item_scope = scope.with_item(items[index])
        child = (
            op.execute(name, child.display_name, template, None, item_scope, boundary_id, group)
            or child
        )
        if child.phase.is_fulfilled:
            del progress.open[index]
            progress.failed = progress.failed or child.phase.is_failure
    while progress.next_index < len(items) and not (fail_fast and progress.failed):
        index = progress.next_index
        item = items[index]
        name = _child_name(group, index, item)
        item_scope = scope.with_item(item)
        child = state.by_name.get(name)
        if child is None:
            display = inv.name + name[len(group.name) :]
            if when_allows(op, inv, item_scope, name, display, template, boundary_id, group):
                child = call_template(
                    op, inv, template, name, display, item_scope, boundary_id, group
                )
                if child is None:
                    break  # a limit holds this item back, and every later one with it
            else:
                child = state.by_name[name]
        elif not child.phase.is_fulfilled:
            child = op.execute(
                name, child.display_name, template, None, item_scope, boundary_id, group
            ) or child
        progress.next_index += 1
        if not child.phase.is_fulfilled:
            progress.open[index] = None
        elif child.phase.is_failure:
            progress.failed = True
    finished = progress.next_index >= len(items) or (fail_fast and progress.failed)
    if progress.open or not finished:
        op.fail_if_stopped(group)
        return
    children = [state.nodes[c] for c in group.children]
    failed = next((c for c in children if c.phase.is_failure), None)
    if failed is not None:
        state.transition(
            group, failed.phase, "fan-out child failed", f"child '{failed.name}' failed"
        )
    else:
        state.transition(group, NodePhase.SUCCEEDED, "fan-out done")


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
