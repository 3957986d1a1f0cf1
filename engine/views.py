"""How a run reads to people and programs: the `get -o json` object and the node tree."""

from __future__ import annotations

import time
from typing import Any

from engine.phases import NodePhase, NodeType
from engine.state import NodeRecord, RunState

_SYMBOLS = {
    NodePhase.PENDING: "◷",
    NodePhase.RUNNING: "●",
    NodePhase.SUCCEEDED: "✔",
    NodePhase.FAILED: "✖",
    NodePhase.ERROR: "⚠",
    NodePhase.SKIPPED: "○",
    NodePhase.OMITTED: "-",
}


def iso(ts: float | None) -> str | None:
    """RFC 3339 in UTC to the second, as Argo prints times.

    `time.strftime` over `gmtime` is about three times cheaper than going through `datetime`,
    which matters for the two stamps of every node of a large run (the API's run detail).
    """
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def node_json(node: NodeRecord) -> dict[str, Any]:
    outputs = node.outputs or {}
    artifacts = {
        name: {"uri": a.get("uri"), "sha256": a.get("sha256"), "size": a.get("size")}
        for name, a in (outputs.get("artifacts") or {}).items()
        if isinstance(a, dict)
    }
    return {
        "id": node.id,
        "name": node.name,
        "displayName": node.display_name,
        "templateName": node.template_name,
        "type": node.type.value,
        "phase": node.phase.value,
        "startedAt": iso(node.started_at),
        "finishedAt": iso(node.finished_at),
        "exitCode": node.exit_code,
        "message": node.message,
        "cached": "cached_from" in node.extra,
        "children": list(node.children),
        "outputs": {
            "parameters": dict(outputs.get("parameters") or {}),
            "result": outputs.get("result"),
            "artifacts": artifacts,
        },
    }


def run_json(state: RunState) -> dict[str, Any]:
    run = state.run
    return {
        "id": run.id,
        "name": run.name,
        "phase": run.phase.value,
        "startedAt": iso(run.started_at),
        "finishedAt": iso(run.finished_at),
        "message": run.message,
        "parameters": dict(run.parameters),
        "outputs": dict(run.outputs),
        "nodes": [node_json(n) for n in ordered_nodes(state)],
    }


def ordered_nodes(state: RunState) -> list[NodeRecord]:
    """Nodes in tree order (parents before children, children in creation order)."""
    roots = [n for n in state.nodes.values() if n.parent_id is None]
    roots.sort(key=lambda n: (n.started_at or 0, n.name))
    out: list[NodeRecord] = []
    stack = list(reversed(roots))
    seen: set[str] = set()
    while stack:
        node = stack.pop()
        if node.id in seen:
            continue
        seen.add(node.id)
        out.append(node)
        stack.extend(state.nodes[c] for c in reversed(node.children) if c in state.nodes)
    return out


def _duration(node: NodeRecord, now: float) -> str:
    if node.started_at is None:
        return ""
    end = node.finished_at or now
    seconds = max(0.0, end - node.started_at)
    return f"{seconds:.1f}s" if seconds < 60 else f"{int(seconds // 60)}m{int(seconds % 60)}s"


def _short(value: Any) -> str:
    """A float to 4 significant digits (a sampled 0.18842696688221447 reads as 0.1884)."""
    text = str(value)
    try:
        return text if text.lstrip("-").isdigit() else f"{float(text):.4g}"
    except ValueError:
        return text


def tree_lines(state: RunState, now: float) -> list[str]:
    """The node tree as `argo get` draws it, minus the structural nodes nobody needs to see."""
    lines: list[str] = []

    def visit(node: NodeRecord, prefix: str, last: bool, depth: int) -> None:
        hidden = node.type is NodeType.STEP_GROUP
        if not hidden:
            branch = "" if depth == 0 else ("└─ " if last else "├─ ")
            detail = (
                node.message if node.phase.is_failure or node.phase is NodePhase.SKIPPED else ""
            )
            if "cached_from" in node.extra:
                detail = "(cached)"
            if node.type is NodeType.TRIAL:  # a Katib trial: its assignments and objective
                values = (node.outputs or {}).get("parameters") or (node.inputs or {}).get(
                    "parameters"
                )
                shown = {
                    k: v
                    for k, v in (values or {}).items()
                    if not (k == "condition" and v == node.phase.value)
                }
                detail = " ".join([f"{k}={_short(v)}" for k, v in shown.items()] + [detail])
            name = node.display_name
            line = f"{prefix}{branch}{_SYMBOLS[node.phase]} {name}  {node.phase.value}  {_duration(node, state_now)}"
            if detail:
                line += f"  {detail}"
            lines.append(line.rstrip())
            child_prefix = prefix + ("" if depth == 0 else ("   " if last else "│  "))
        else:
            child_prefix = prefix
        children = [state.nodes[c] for c in node.children if c in state.nodes]
        for i, child in enumerate(children):
            visit(child, child_prefix, i == len(children) - 1, depth + (0 if hidden else 1))

    state_now = now
    roots = [n for n in state.nodes.values() if n.parent_id is None]
    roots.sort(key=lambda n: (n.started_at or 0, n.name))
    for root in roots:
        visit(root, "", True, 0)
    return lines
