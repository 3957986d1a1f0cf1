"""containerSet templates: several containers of one pod, started in `dependencies` order.

Locally each container is its own process (a child node of type Container), so containers do
not share a filesystem, except through the pod's volumes: the containerSet's `volumeMounts`
(Argo mounts them into every container) and the pod's emptyDirs, which live in the pod node's
directory and so are the same for all of its containers.
The pod succeeds when every container succeeds; `outputs.result` and output parameters come
from the container named `main`, as in Argo.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.phases import NodePhase, NodeType
from engine.spec import Container, Template
from engine.state import NodeRecord

if TYPE_CHECKING:
    from engine.operator import Operator

MAIN = "main"


def execute_container_set(op: Operator, node: NodeRecord, bound: Template) -> NodeRecord:
    assert bound.container_set is not None
    if node.phase is NodePhase.PENDING:
        op.state.transition(node, NodePhase.RUNNING, "pod started")
    containers = bound.container_set.containers
    children: dict[str, NodeRecord] = {}
    for spec in containers:
        name = spec.name or f"container-{containers.index(spec)}"
        child = op.state.by_name.get(f"{node.name}.{name}")
        if child is None:
            if any(not _succeeded(op, node, dep) for dep in spec.dependencies):
                continue  # waiting, or never: a dependency that failed stops its dependents
            child = op.state.create(
                f"{node.name}.{name}",
                name,
                NodeType.CONTAINER,
                template_name=node.template_name,
                boundary_id=node.boundary_id,
                parent=node,
                inputs=node.inputs,
            )
            op.bound_templates[child.id] = _container_template(bound, spec, name)
            op.queue_pod(child)
        elif not child.phase.is_fulfilled and child.id not in op.bound_templates:
            # A resumed engine: rebuild what it had in memory (a finished container needs none).
            op.bound_templates[child.id] = _container_template(bound, spec, name)
        children[name] = child
    if any(not c.phase.is_fulfilled for c in children.values()):
        return node
    # Nothing is running: whatever has not started never will.
    failed = next((c for c in children.values() if c.phase.is_failure), None)
    main = children.get(MAIN) or (next(iter(children.values())) if len(children) == 1 else None)
    if main is not None:
        node.outputs = dict(main.outputs)
        node.exit_code = main.exit_code
    if failed is not None:
        op.state.transition(
            node,
            failed.phase,
            "container failed",
            f"container {failed.display_name!r}: {failed.message}",
        )
    elif len(children) < len(containers):
        op.state.transition(
            node, NodePhase.FAILED, "containers not run", "some containers never started"
        )
    else:
        op.state.transition(node, NodePhase.SUCCEEDED, "all containers succeeded")
    return node


def _succeeded(op: Operator, pod: NodeRecord, name: str) -> bool:
    child = op.state.by_name.get(f"{pod.name}.{name}")
    return child is not None and child.phase is NodePhase.SUCCEEDED


def _container_template(pod: Template, spec: Container, name: str) -> Template:
    """One container as a plain container template; `main` also carries the pod's outputs."""
    body = spec.dump()
    body.pop("dependencies", None)
    assert pod.container_set is not None
    shared = pod.container_set.volume_mounts or []
    if shared:
        body["volumeMounts"] = [*shared, *(body.get("volumeMounts") or [])]
    template: dict[str, object] = {
        "name": f"{pod.name}.{name}",
        "container": body,
        "inputs": pod.inputs.dump(),
    }
    for field in ("volumes", "securityContext"):  # the pod's, for each of its containers
        value = pod.dump().get(field)
        if value:
            template[field] = value
    if name == MAIN:
        template["outputs"] = pod.outputs.dump()
    return Template.model_validate(template)
