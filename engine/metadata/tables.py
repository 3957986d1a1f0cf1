"""The metadata schema (sqlmodel). Only `engine.metadata.store` touches these classes.

JSON-shaped values (inputs, outputs, runner handles) are JSON columns: they are read and written
whole with their node, never queried inside. A node's children are not stored on it: they are
the nodes whose `parent_id` names it, in `seq` (creation) order, so adding a child never rewrites
its parent's row.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

SCHEMA_VERSION = 4

# Run listings (`MetadataStore.list_runs`/`page_runs`) order by one of these keys with the run id
# as tie-break; each index holds exactly (key, id), so a page is found by walking the index alone.
# `namespace` leads one of them because a namespaced API user lists only their namespace.
# Migration step 3 -> 4 creates them on older databases (create_all only indexes new tables).
RUN_LISTING_INDEXES: dict[str, tuple[str, ...]] = {
    "ix_runs_created_id": ("created_at", "id"),
    "ix_runs_namespace_created_id": ("namespace", "created_at", "id"),
    "ix_runs_started_id": ("started_at", "id"),
    "ix_runs_finished_id": ("finished_at", "id"),
    "ix_runs_name_id": ("name", "id"),
    "ix_runs_phase_created_id": ("phase", "created_at", "id"),
}


class SchemaInfo(SQLModel, table=True):
    __tablename__ = "kubepipe_schema"
    id: int = Field(default=1, primary_key=True)
    version: int


class RunRow(SQLModel, table=True):
    __tablename__ = "runs"
    __table_args__ = tuple(Index(name, *columns) for name, columns in RUN_LISTING_INDEXES.items())
    id: str = Field(primary_key=True)
    name: str = Field(index=True)
    namespace: str = "default"
    uid: str
    phase: str = Field(index=True)  # derived by engine.phases.derive_run_phase, stored for queries
    message: str = ""
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    source: str = ""  # the file (or "<string>") the run came from
    manifest: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    parameters: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    outputs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    entry_node_id: str | None = None
    exit_node_id: str | None = None
    stop_requested: str | None = None  # desired state written by `kubepipe stop`: the reason
    # Who executes the run: an engine claims it by compare-and-set on these two columns and keeps
    # `heartbeat_at` fresh; a run whose heartbeat is older than the lease may be claimed again.
    owner: str | None = Field(default=None, index=True)
    heartbeat_at: float | None = None


class NodeRow(SQLModel, table=True):
    __tablename__ = "nodes"
    __table_args__ = (Index("ix_nodes_run_name", "run_id", "name", unique=True),)
    run_id: str = Field(primary_key=True, foreign_key="runs.id")
    id: str = Field(primary_key=True)
    name: str
    display_name: str
    type: str
    template_name: str | None = None
    phase: str
    boundary_id: str | None = None
    parent_id: str | None = None
    seq: int  # creation order within the run
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int | None = None
    message: str = ""
    attempt: int | None = None
    inputs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    outputs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    handle: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    extra: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class NodeEventRow(SQLModel, table=True):
    __tablename__ = "node_events"
    __table_args__ = (Index("ix_node_events_run", "run_id", "node_id"),)
    seq: int | None = Field(default=None, primary_key=True)
    run_id: str
    node_id: str
    from_phase: str | None = None
    to_phase: str
    reason: str = ""
    at: float


class ArtifactRow(SQLModel, table=True):
    __tablename__ = "artifacts"
    __table_args__ = (Index("ix_artifacts_run", "run_id", "node_id"),)
    seq: int | None = Field(default=None, primary_key=True)
    run_id: str
    node_id: str
    name: str
    uri: str
    sha256: str
    size: int
    archived: bool = False  # a directory stored as .tgz, as Argo does
    created_at: float


class LogRow(SQLModel, table=True):
    __tablename__ = "logs"
    __table_args__ = (Index("ix_logs_run", "run_id", "node_id"),)
    seq: int | None = Field(default=None, primary_key=True)
    run_id: str
    node_id: str
    stream: str  # stdout | stderr
    uri: str
    sha256: str
    size: int
    created_at: float


class ResumeRequestRow(SQLModel, table=True):
    """Desired state from `kubepipe resume`: the engine takes (and deletes) these on its next look."""

    __tablename__ = "resume_requests"
    seq: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(index=True)
    node: str | None = None  # a node id, name or display name; None resumes every suspended node
    outputs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: float


class CacheEntryRow(SQLModel, table=True):
    """A Succeeded step's outputs, keyed by what determines them (engine.cache.cache_key)."""

    __tablename__ = "cache_entries"
    key: str = Field(primary_key=True)
    run_id: str = Field(index=True)
    node_id: str
    outputs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: float
