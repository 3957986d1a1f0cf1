"""What a `{{...}}` placeholder means at one place in a running workflow.

A `Scope` answers names lazily (a 10,000-task DAG must not build a 10,000-entry map on every
reconcile): `workflow.*` globals, the enclosing template's `inputs.*`, sibling `tasks.X.*` /
`steps.X.*` outputs (fan-outs aggregated into JSON lists, as Argo does), `item`, and per-pod
names such as `pod.name` and `retries`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.phases import NodePhase, NodeType
from engine.state import NodeRecord, RunState
from engine.values import item_text, json_value

_NO_ITEM = object()

# name -> the task/step node, or the list of a fan-out's children
Lookup = Callable[[str], "NodeRecord | list[NodeRecord] | None"]


@dataclass
class Scope:
    state: RunState
    globals: Mapping[str, str]
    inputs: Mapping[str, Any] = field(
        default_factory=dict
    )  # {"parameters": {..}, "artifacts": {..}}
    prefix: str = "tasks"  # "tasks" in a DAG, "steps" in a steps template
    lookup: Lookup | None = None
    item: Any = _NO_ITEM
    extra: dict[str, str] = field(default_factory=dict)

    def with_item(self, item: Any) -> Scope:
        return Scope(
            self.state, self.globals, self.inputs, self.prefix, self.lookup, item, dict(self.extra)
        )

    def with_extra(self, **values: str) -> Scope:
        merged = dict(self.extra)
        merged.update(values)
        return Scope(
            self.state, self.globals, self.inputs, self.prefix, self.lookup, self.item, merged
        )

    # -- parameters -----------------------------------------------------------------------
    def resolve(self, key: str) -> str | None:
        if key in self.extra:
            return self.extra[key]
        if key in self.globals:
            return self.globals[key]
        head, _, rest = key.partition(".")
        if head == "item":
            return self._item(rest)
        if head == "inputs":
            return self._inputs(rest)
        if head in ("tasks", "steps") and head == self.prefix and self.lookup is not None:
            return self._sibling(rest)
        return None

    def _item(self, path: str) -> str | None:
        if self.item is _NO_ITEM:
            return None
        value = self.item
        for part in path.split(".") if path else []:
            if isinstance(value, dict) and part in value:
                value = value[part]
            else:
                return None
        return item_text(value)

    def _inputs(self, rest: str) -> str | None:
        params = self.inputs.get("parameters", {})
        if rest == "parameters":
            return json.dumps(
                [{"name": k, "value": v} for k, v in params.items()], separators=(",", ":")
            )
        kind, _, name = rest.partition(".")
        if kind == "parameters":
            return params.get(name)
        if kind == "artifacts":
            art_name, _, attr = name.partition(".")
            art = self.inputs.get("artifacts", {}).get(art_name)
            if art is not None and attr == "path":
                return art.get("path")
        return None

    def _sibling(self, rest: str) -> str | None:
        name, _, attr = rest.partition(".")
        if not attr:
            return None
        assert self.lookup is not None
        target = self.lookup(name)
        if target is None:
            return None
        if isinstance(target, list):
            return _aggregate(target, attr)
        return node_attribute(target, attr)

    # -- artifacts ------------------------------------------------------------------------
    def artifact(self, key: str) -> dict[str, Any] | None:
        """The stored artifact a `from: "{{...}}"` names, or None."""
        parts = key.split(".")
        if parts[:2] == ["inputs", "artifacts"] and len(parts) == 3:
            return self.inputs.get("artifacts", {}).get(parts[2])
        if parts[:3] == ["workflow", "outputs", "artifacts"] and len(parts) == 4:
            return self.state.run.outputs.get("artifacts", {}).get(parts[3])
        if len(parts) == 5 and parts[0] == self.prefix and parts[2:4] == ["outputs", "artifacts"]:
            assert self.lookup is not None
            target = self.lookup(parts[1])
            if isinstance(target, NodeRecord):
                return target.outputs.get("artifacts", {}).get(parts[4])
        return None

    # -- expressions ----------------------------------------------------------------------
    def expression_env(self) -> dict[str, Any]:
        """A nested view for `{{= ...}}`: `inputs.parameters.x`, `tasks.a.outputs.result`, ..."""
        env: dict[str, Any] = {}
        for key, value in {**self.globals, **self.extra}.items():
            if key.startswith("workflow.creationTimestamp."):
                continue  # `{{workflow.creationTimestamp.Y}}` shorthands; expressions format the leaf
            _set_path(env, key.split("."), value)
        env.setdefault("inputs", {})
        env["inputs"]["parameters"] = dict(self.inputs.get("parameters", {}))
        env["inputs"]["artifacts"] = dict(self.inputs.get("artifacts", {}))
        if self.item is not _NO_ITEM:
            env["item"] = self.item
        if self.lookup is not None:
            env[self.prefix] = _LazySiblings(self)
        return env


class _LazySiblings(dict):  # type: ignore[type-arg]
    """`tasks`/`steps` in an expression: built per name on first access."""

    def __init__(self, scope: Scope) -> None:
        super().__init__()
        self._scope = scope

    def __missing__(self, name: str) -> Any:
        assert self._scope.lookup is not None
        target = self._scope.lookup(name)
        if target is None:
            raise KeyError(name)
        if isinstance(target, list):
            value: dict[str, Any] = {
                "outputs": {
                    "result": _aggregate(target, "outputs.result"),
                    "parameters": json_value(_aggregate(target, "outputs.parameters") or "[]"),
                }
            }
        else:
            outputs = target.outputs
            value = {
                "status": target.phase.value,
                "exitCode": outputs.get("exitCode"),
                "outputs": {
                    "result": outputs.get("result"),
                    "parameters": dict(outputs.get("parameters", {})),
                    "artifacts": dict(outputs.get("artifacts", {})),
                    "exitCode": outputs.get("exitCode"),
                },
            }
        self[name] = value
        return value

    def __contains__(self, name: object) -> bool:
        try:
            self[name]  # noqa: B018
        except KeyError:
            return False
        return True


def _set_path(env: dict[str, Any], parts: list[str], value: Any) -> None:
    node = env
    for part in parts[:-1]:
        nxt = node.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            node[part] = nxt
        node = nxt
    if not isinstance(node.get(parts[-1]), dict):  # `workflow.parameters` map beats a leaf
        node[parts[-1]] = value


def node_attribute(node: NodeRecord, attr: str) -> str | None:
    """`tasks.X.<attr>` for one node. Skipped/Omitted nodes' outputs read as declared defaults or ""."""
    if attr == "status":
        return node.phase.value
    if attr == "id":
        return node.id
    if attr == "startedAt":
        return _iso(node.started_at)
    if attr == "finishedAt":
        return _iso(node.finished_at)
    if attr == "exitCode":
        return node.outputs.get("exitCode", "" if node.exit_code is None else str(node.exit_code))
    outputs = node.outputs
    skipped = node.phase in (NodePhase.SKIPPED, NodePhase.OMITTED)
    if attr == "outputs.result":
        result = outputs.get("result")
        return "" if result is None and skipped else result
    if attr == "outputs.exitCode":
        return outputs.get("exitCode")
    if attr == "outputs.parameters":
        return json.dumps(outputs.get("parameters", {}), separators=(",", ":"))
    if attr.startswith("outputs.parameters."):
        name = attr.removeprefix("outputs.parameters.")
        value = outputs.get("parameters", {}).get(name)
        if value is None and skipped:
            return node.extra.get("output_defaults", {}).get(name, "")
        return value
    return None


def _aggregate(children: list[NodeRecord], attr: str) -> str | None:
    """Argo's fan-out aggregates: JSON lists over the Succeeded children, in index order."""
    done = [c for c in children if c.phase is NodePhase.SUCCEEDED]
    if attr == "outputs.result":
        return json.dumps(
            [json_value(c.outputs.get("result") or "") for c in done], separators=(",", ":")
        )
    if attr == "outputs.parameters":
        return json.dumps(
            [dict(c.outputs.get("parameters", {})) for c in done], separators=(",", ":")
        )
    if attr.startswith("outputs.parameters."):
        name = attr.removeprefix("outputs.parameters.")
        values = [c.outputs.get("parameters", {}).get(name) for c in done]
        values = [v for v in values if v is not None]
        decoded = [json_value(v) for v in values]
        if all(not isinstance(d, str) or d != v for d, v in zip(decoded, values)):
            return json.dumps(decoded, separators=(",", ":"))
        return json.dumps(values, separators=(",", ":"))
    if attr == "status":
        return _group_phase(children).value
    return None


def _group_phase(children: list[NodeRecord]) -> NodePhase:
    if any(not c.phase.is_fulfilled for c in children):
        return NodePhase.RUNNING
    if any(c.phase.is_failure for c in children):
        return NodePhase.FAILED
    return NodePhase.SUCCEEDED


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def fanout_children(state: RunState, node: NodeRecord) -> list[NodeRecord]:
    """The loop children of a TaskGroup node, in index order."""
    assert node.type is NodeType.TASK_GROUP
    return [state.nodes[c] for c in node.children]
