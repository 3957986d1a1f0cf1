"""The server's tables (sqlmodel), in the engine's database but on their own registry.

Like the scheduler's, they live apart from the engine's metadata so the engine's `create_all`
never sees them, and are versioned by their own schema row (`kubepipe_server_schema`). Only
`server.store` and `server.runs_index` touch these classes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, Index, Text
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

SCHEMA_VERSION = 1
BASELINE = 1


class ServerBase(SQLModel, registry=registry()):
    """Root of the server's tables: `ServerBase.metadata` holds only them."""


class ServerSchemaInfo(ServerBase, table=True):
    __tablename__ = "kubepipe_server_schema"
    id: int = Field(default=1, primary_key=True)
    version: int


class PipelineRow(ServerBase, table=True):
    __tablename__ = "server_pipelines"
    __table_args__ = (Index("ux_server_pipelines_name", "namespace", "name", unique=True),)
    id: str = Field(primary_key=True)
    namespace: str = Field(index=True)
    name: str
    description: str = ""
    created_at: float


class PipelineVersionRow(ServerBase, table=True):
    __tablename__ = "server_pipeline_versions"
    __table_args__ = (Index("ux_server_versions_name", "pipeline_id", "name", unique=True),)
    id: str = Field(primary_key=True)
    pipeline_id: str = Field(index=True)
    name: str
    description: str = ""
    source_yaml: str = Field(sa_column=Column(Text, nullable=False))  # exactly as uploaded
    manifest: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))  # the validated one
    created_at: float


class ExperimentRow(ServerBase, table=True):
    __tablename__ = "server_experiments"
    __table_args__ = (Index("ux_server_experiments_name", "namespace", "name", unique=True),)
    id: str = Field(primary_key=True)
    namespace: str = Field(index=True)
    name: str
    description: str = ""
    created_at: float


class RunLinkRow(ServerBase, table=True):
    """What the API knows about a run beyond the engine's row: where it came from."""

    __tablename__ = "server_run_links"
    run_id: str = Field(primary_key=True)
    experiment_id: str | None = Field(default=None, index=True)
    pipeline_id: str | None = Field(default=None, index=True)
    pipeline_version_id: str | None = None
    retry_of: str | None = None


class TokenRow(ServerBase, table=True):
    """An API token: only its sha256 is stored, so a leaked database leaks no usable token."""

    __tablename__ = "server_tokens"
    id: str = Field(primary_key=True)
    token_sha256: str = Field(unique=True)
    namespace: str
    role: str
    description: str = ""
    created_at: float
