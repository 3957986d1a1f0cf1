"""The graphs the dashboard draws: a run's nodes with their dependency edges, and a pipeline's
entry template before it runs, each laid out in layers (longest path from a root) with networkx,
so the page only has to place boxes on a grid.

Edges follow what a person thinks of as "after": inside a DAG, a task hangs off the tasks its
`depends`/`dependencies` name (or off the DAG when it names none); inside steps, each group hangs
off the previous group; everything else (retries, loop groups) hangs off its parent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import networkx as nx  # type: ignore[import-untyped]

from engine.phases import NodeType
from engine.state import NodeRecord, RunState
from server.schemas import Graph, GraphNode

_TASK_REF = re.compile(r"[A-Za-z0-9_][-A-Za-z0-9_]*")
_PHASE_WORDS = {
    "Succeeded",
    "Failed",
    "Errored",
    "Skipped",
    "Omitted",
    "Daemoned",
    "AnySucceeded",
    "AllFailed",
}


def task_dependencies(task: Mapping[str, Any]) -> set[str]:
    """Names of the tasks a DAG task waits for (`depends` expression or `dependencies` list)."""
    names = set(task.get("dependencies") or [])
    expr = task.get("depends")
    if isinstance(expr, str):
        names |= {m for m in _TASK_REF.findall(expr) if m not in _PHASE_WORDS}
    return names


def _templates(manifest: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    spec = manifest.get("spec") or {}
    return {t.get("name", ""): t for t in spec.get("templates") or [] if isinstance(t, Mapping)}


def _task_name(node: NodeRecord) -> str:
    """`B(0:x)` (a loop item) is task B."""
    return node.display_name.split("(", 1)[0]


def _laid_out(graph: nx.DiGraph, labels: Mapping[str, GraphNode]) -> Graph:
    layer: dict[str, int] = {}
    order = list(nx.topological_sort(graph)) if nx.is_directed_acyclic_graph(graph) else list(graph)
    for node in order:
        preds = [layer[p] for p in graph.predecessors(node) if p in layer]
        layer[node] = max(preds) + 1 if preds else 0
    counts: dict[int, int] = {}
    nodes = []
    for node in graph.nodes:  # insertion order: creation order within each layer
        depth = layer[node]
        position = counts.get(depth, 0)
        counts[depth] = position + 1
        nodes.append(labels[node].model_copy(update={"layer": depth, "position": position}))
    return Graph(
        nodes=nodes,
        edges=[(a, b) for a, b in graph.edges],
        layers=(max(layer.values()) + 1) if layer else 0,
    )


def run_graph(state: RunState) -> Graph:
    """Every node of a run except step groups (their children take their place)."""
    templates = _templates(state.run.manifest)
    graph: nx.DiGraph = nx.DiGraph()
    labels: dict[str, GraphNode] = {}
    for node in sorted(state.nodes.values(), key=lambda n: n.seq):
        if node.type is NodeType.STEP_GROUP:
            continue
        graph.add_node(node.id)
        labels[node.id] = GraphNode(
            id=node.id,
            label=node.display_name,
            phase=node.phase.value,
            type=node.type.value,
            layer=0,
            position=0,
        )
    for node in state.nodes.values():
        if node.id not in graph:
            continue
        children = [state.nodes[c] for c in node.children if c in state.nodes]
        if node.type is NodeType.STEPS:
            _steps_edges(graph, node, children, state)
        elif node.type is NodeType.DAG:
            _dag_edges(graph, node, children, templates.get(node.template_name or "", {}))
        else:
            for child in children:
                if child.id in graph:
                    graph.add_edge(node.id, child.id)
    return _laid_out(graph, labels)


def _dag_edges(
    graph: nx.DiGraph, node: NodeRecord, children: list[NodeRecord], template: Mapping[str, Any]
) -> None:
    tasks = {t.get("name"): t for t in ((template.get("dag") or {}).get("tasks") or [])}
    by_task: dict[str, list[str]] = {}
    for child in children:
        by_task.setdefault(_task_name(child), []).append(child.id)
    for child in children:
        deps = task_dependencies(tasks.get(_task_name(child)) or {})
        upstream = [u for name in sorted(deps) for u in by_task.get(name, [])]
        for source in upstream or [node.id]:
            if source in graph and child.id in graph:
                graph.add_edge(source, child.id)


def _steps_edges(
    graph: nx.DiGraph, node: NodeRecord, groups: list[NodeRecord], state: RunState
) -> None:
    previous: Iterable[str] = [node.id]
    for group in groups:
        members = [c for c in group.children if c in graph]
        for member in members:
            for source in previous:
                graph.add_edge(source, member)
        if members:
            previous = members


def pipeline_graph(manifest: Mapping[str, Any]) -> Graph:
    """The entry template's tasks (or steps) as they will run, before any run exists."""
    spec = manifest.get("spec") or {}
    templates = _templates(manifest)
    entry = templates.get(spec.get("entrypoint") or "", {})
    graph: nx.DiGraph = nx.DiGraph()
    labels: dict[str, GraphNode] = {}

    def add(node_id: str, label: str, kind: str) -> None:
        graph.add_node(node_id)
        labels[node_id] = GraphNode(id=node_id, label=label, type=kind, layer=0, position=0)

    if entry.get("dag"):
        tasks = (entry.get("dag") or {}).get("tasks") or []
        for task in tasks:
            add(str(task.get("name")), str(task.get("name")), str(task.get("template") or ""))
        for task in tasks:
            for dep in sorted(task_dependencies(task)):
                if dep in graph:
                    graph.add_edge(dep, str(task.get("name")))
    elif entry.get("steps"):
        previous: list[str] = []
        for index, group in enumerate(entry.get("steps") or []):
            members = []
            for step in group or []:
                step_id = f"{index}.{step.get('name')}"
                add(step_id, str(step.get("name")), str(step.get("template") or ""))
                members.append(step_id)
                for source in previous:
                    graph.add_edge(source, step_id)
            previous = members or previous
    elif entry:
        add(str(entry.get("name")), str(entry.get("name")), str(entry.get("name")))
    return _laid_out(graph, labels)
