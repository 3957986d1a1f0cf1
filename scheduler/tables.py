"""The scheduler's tables (sqlmodel), in the engine's database but on their own metadata.

They live on a separate SQLAlchemy registry so the engine's `create_all` never sees them and the
scheduler versions them with its own schema row (`kubepipe_scheduler_schema`). Only
`scheduler.store` touches these classes.

A recurring run's name is unique within its namespace (the unique index on (namespace, name)),
never across namespaces: a name taken in one namespace says nothing about another.

Exactly-once rests on two things here: the unique index on (recurring_id, scheduled_time) in
`recurring_fires`, and the `cursor`/`generation` pair in `recurring_runs` that every decision
compare-and-sets in the same transaction as its fire rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

SCHEMA_VERSION = 2  # 2: recurring_runs.namespace, names unique per namespace (was: globally)
BASELINE = 1


class SchedulerBase(SQLModel, registry=registry()):
    """Root of the scheduler's tables: `SchedulerBase.metadata` holds only them."""


class SchedulerSchemaInfo(SchedulerBase, table=True):
    __tablename__ = "kubepipe_scheduler_schema"
    id: int = Field(default=1, primary_key=True)
    version: int


class RecurringRunRow(SchedulerBase, table=True):
    __tablename__ = "recurring_runs"
    __table_args__ = (Index("ux_recurring_runs_name", "namespace", "name", unique=True),)
    id: str = Field(primary_key=True)
    # Its workflow's metadata.namespace, kept as a column for the unique index and name lookups.
    namespace: str = "default"
    name: str
    spec: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    enabled: bool = Field(index=True)
    created_at: float
    updated_at: float
    cursor: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_scheduled_time: int | None = Field(default=None, sa_column=Column(BigInteger))
    next_fire_time: int | None = Field(default=None, sa_column=Column(BigInteger, index=True))
    generation: int = 0
    # Whether the spec sets a history limit: lets the loop find those few without parsing all.
    history_limited: bool = Field(default=False, index=True)


class FireRow(SchedulerBase, table=True):
    __tablename__ = "recurring_fires"
    __table_args__ = (
        Index("ux_recurring_fires_time", "recurring_id", "scheduled_time", unique=True),
        Index("ix_recurring_fires_state", "state"),
    )
    seq: int | None = Field(default=None, primary_key=True)
    recurring_id: str
    scheduled_time: int = Field(sa_column=Column(BigInteger, nullable=False))
    state: str
    run_id: str | None = None
    run_name: str | None = None
    reason: str = ""
    created_at: float
    finished: bool = False


class ChangeCounterRow(SchedulerBase, table=True):
    """Bumped by every create/enable/disable/delete, so a sleeping loop notices in one read."""

    __tablename__ = "recurring_changes"
    id: int = Field(default=1, primary_key=True)
    counter: int = 0
