"""A run's live state in memory: the unit of work the reconciler mutates and the store commits.

Every phase change goes through `RunState.transition`, the one choke point that checks
`TRANSITIONS`, stamps start/finish times and queues a `node_events` row; the store then writes
the changed nodes and their events in one transaction per reconcile, before the reconciler acts
on them (launches, kills). Nothing else assigns `NodeRecord.phase`.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field
from typing import Any

from engine.errors import IllegalTransition
from engine.phases import NodePhase, NodeType, RunPhase, can_transition


def node_id_for(run_name: str, node_name: str, salt: int = 0) -> str:
    """Deterministic ids, as Argo makes them: a restarted engine finds the same node again.

    A 32-bit hash collides within a run of 100,000 nodes more often than not, so a taken id is
    hashed again with a `salt` (see `RunState.create`); ids are stored, never recomputed.
    """
    if node_name == run_name and salt == 0:
        return run_name
    text = node_name if salt == 0 else f"{node_name}\0{salt}"
    return f"{run_name}-{zlib.crc32(text.encode()):010d}"


@dataclass(slots=True)  # a run may hold 100,000 of them: no per-instance __dict__
class NodeRecord:
    id: str
    name: str
    display_name: str
    type: NodeType
    phase: NodePhase
    template_name: str | None = None
    boundary_id: str | None = None
    parent_id: str | None = None
    children: list[str] = field(default_factory=list)  # derived from the children's parent_id
    seq: int = 0  # creation order within the run
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int | None = None
    message: str = ""
    attempt: int | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    handle: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class NodeEvent:
    node_id: str
    from_phase: NodePhase | None
    to_phase: NodePhase
    reason: str
    at: float


@dataclass
class RunRecord:
    id: str
    name: str
    uid: str
    namespace: str
    phase: RunPhase
    created_at: float
    manifest: dict[str, Any]
    source: str = ""
    message: str = ""
    started_at: float | None = None
    finished_at: float | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    entry_node_id: str | None = None
    exit_node_id: str | None = None
    stop_requested: str | None = None
    owner: str | None = None
    heartbeat_at: float | None = None


@dataclass
class ArtifactRecord:
    node_id: str
    name: str
    uri: str
    sha256: str
    size: int
    archived: bool
    created_at: float


@dataclass
class LogRecord:
    node_id: str
    stream: str
    uri: str
    sha256: str
    size: int
    created_at: float


class RunState:
    """One run's nodes, indexed by id and name, plus what changed since the last commit."""

    def __init__(self, run: RunRecord, nodes: list[NodeRecord] | None = None) -> None:
        self.run = run
        self.nodes: dict[str, NodeRecord] = {}
        self.by_name: dict[str, NodeRecord] = {}
        for node in sorted(nodes or [], key=lambda n: n.seq):
            self.nodes[node.id] = node
            self.by_name[node.name] = node
        for node in self.nodes.values():
            if node.parent_id is not None and node.parent_id in self.nodes:
                self.nodes[node.parent_id].children.append(node.id)
        self.new: set[str] = set()
        self.dirty: set[str] = set()
        self.events: list[NodeEvent] = []
        self.artifacts: list[ArtifactRecord] = []
        self.logs: list[LogRecord] = []
        self.removed: set[str] = set()  # nodes a retry forgot, deleted at the next commit
        self.run_dirty = False
        # Non-fulfilled nodes, kept up to date by create/transition so parallelism checks and
        # pod polling never scan the whole run.
        self.active: set[str] = {n.id for n in self.nodes.values() if not n.phase.is_fulfilled}

    # -- reads -----------------------------------------------------------------------------
    def get(self, name: str) -> NodeRecord | None:
        return self.by_name.get(name)

    def node(self, node_id: str) -> NodeRecord:
        return self.nodes[node_id]

    # -- writes ----------------------------------------------------------------------------
    def create(
        self,
        name: str,
        display_name: str,
        type: NodeType,
        *,
        template_name: str | None = None,
        boundary_id: str | None = None,
        parent: NodeRecord | None = None,
        reason: str = "created",
        **fields: Any,
    ) -> NodeRecord:
        if name in self.by_name:
            raise AssertionError(f"node {name} created twice")
        salt = 0
        node_id = node_id_for(self.run.name, name)
        while node_id in self.nodes:
            salt += 1
            node_id = node_id_for(self.run.name, name, salt)
        node = NodeRecord(
            id=node_id,
            name=name,
            display_name=display_name,
            type=type,
            phase=NodePhase.PENDING,
            template_name=template_name,
            boundary_id=boundary_id,
            parent_id=parent.id if parent else None,
            **fields,
        )
        self.nodes[node.id] = node
        self.by_name[name] = node
        self.new.add(node.id)
        self.active.add(node.id)
        self.events.append(NodeEvent(node.id, None, NodePhase.PENDING, reason, time.time()))
        node.seq = len(self.nodes) - 1
        if parent is not None:
            parent.children.append(node.id)  # not persisted on the parent: see metadata.tables
        return node

    def create_settled(
        self,
        name: str,
        display_name: str,
        type: NodeType,
        phase: NodePhase,
        reason: str,
        message: str,
        *,
        template_name: str | None = None,
        boundary_id: str | None = None,
        parent: NodeRecord | None = None,
    ) -> NodeRecord:
        """A node that ends as it is created: Skipped, Omitted, or an Error found before it ran."""
        node = self.create(
            name,
            display_name,
            type,
            template_name=template_name,
            boundary_id=boundary_id,
            parent=parent,
        )
        self.transition(node, phase, reason, message)
        return node

    def transition(
        self, node: NodeRecord, to: NodePhase, reason: str = "", message: str | None = None
    ) -> None:
        """The choke point for phase changes: enforced, stamped and recorded."""
        if not can_transition(node.phase, to):
            raise IllegalTransition(node.name, node.phase.value, to.value)
        now = time.time()
        if to is NodePhase.RUNNING or (node.started_at is None and to.is_completed):
            node.started_at = node.started_at or now
        if to.is_fulfilled:
            node.finished_at = now
            self.active.discard(node.id)
        if message is not None:
            node.message = message
        self.events.append(NodeEvent(node.id, node.phase, to, reason or (message or ""), now))
        node.phase = to
        self.touch(node)

    def reopen(self, node: NodeRecord, reason: str) -> None:
        """Send a finished container node back to Running, so its walk goes on.

        The one way back past the state machine, used only by a retry of a finished run (as
        `argo retry` resets its failed DAG/steps nodes); recorded as an event like any change.
        """
        self.events.append(NodeEvent(node.id, node.phase, NodePhase.RUNNING, reason, time.time()))
        node.phase = NodePhase.RUNNING
        node.finished_at = None
        node.message = ""
        self.active.add(node.id)
        self.touch(node)

    def remove(self, node: NodeRecord) -> None:
        """Forget a node and everything under it, so the walk creates them afresh (retry)."""
        for child_id in list(node.children):
            self.remove(self.nodes[child_id])
        parent = self.nodes.get(node.parent_id) if node.parent_id else None
        if parent is not None and node.id in parent.children:
            parent.children.remove(node.id)
        del self.nodes[node.id]
        self.by_name.pop(node.name, None)
        for tracked in (self.active, self.dirty, self.new):
            tracked.discard(node.id)
        self.removed.add(node.id)

    def touch(self, node: NodeRecord) -> None:
        if node.id not in self.new:
            self.dirty.add(node.id)

    def add_artifact(self, record: ArtifactRecord) -> None:
        self.artifacts.append(record)

    def add_log(self, record: LogRecord) -> None:
        self.logs.append(record)

    def has_changes(self) -> bool:
        return bool(
            self.new
            or self.dirty
            or self.events
            or self.artifacts
            or self.logs
            or self.removed
            or self.run_dirty
        )

    def clear_changes(self) -> None:
        self.new.clear()
        self.dirty.clear()
        self.events.clear()
        self.artifacts.clear()
        self.logs.clear()
        self.removed.clear()
        self.run_dirty = False
