"""Upgrades of the scheduler's tables: `STEPS[n]` takes them from version n to n + 1.

`RecurringStore` runs them through the engine's `upgrade` (one schema row of the scheduler's
own). Each step spells out the layout it produces instead of reading today's table classes, so
a later step still finds exactly what this one left.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from engine.metadata.migrations import Step
from scheduler.spec import workflow_namespace

# recurring_runs at version 2, for SQLite's rebuild (it cannot drop a UNIQUE constraint).
_V2_COLUMNS = """
    id VARCHAR NOT NULL,
    namespace VARCHAR NOT NULL DEFAULT 'default',
    name VARCHAR NOT NULL,
    spec JSON NOT NULL,
    enabled BOOLEAN NOT NULL,
    created_at FLOAT NOT NULL,
    updated_at FLOAT NOT NULL,
    cursor BIGINT NOT NULL,
    last_scheduled_time BIGINT,
    next_fire_time BIGINT,
    generation INTEGER NOT NULL,
    history_limited BOOLEAN NOT NULL,
    PRIMARY KEY (id)
"""
_V1_COLUMNS = (
    "id, name, spec, enabled, created_at, updated_at, cursor, last_scheduled_time, "
    "next_fire_time, generation, history_limited"
)
_V2_INDEXES = {
    "ix_recurring_runs_enabled": "enabled",
    "ix_recurring_runs_history_limited": "history_limited",
    "ix_recurring_runs_next_fire_time": "next_fire_time",
}


def _namespaced_names(conn: Connection) -> None:
    """1 -> 2: `recurring_runs.namespace` (its workflow's metadata.namespace, as the API has
    always read it), and names unique per namespace: version 1's global uniqueness answered 409
    for a name that existed only in another namespace, revealing it and letting it be squatted."""
    if conn.dialect.name == "sqlite":
        conn.execute(text("DROP TABLE IF EXISTS recurring_runs_v2"))
        conn.execute(text(f"CREATE TABLE recurring_runs_v2 ({_V2_COLUMNS})"))
        conn.execute(
            text(
                f"INSERT INTO recurring_runs_v2 ({_V1_COLUMNS}) "
                f"SELECT {_V1_COLUMNS} FROM recurring_runs"
            )
        )
        conn.execute(text("DROP TABLE recurring_runs"))  # and its indexes with it
        conn.execute(text("ALTER TABLE recurring_runs_v2 RENAME TO recurring_runs"))
        for name, column in _V2_INDEXES.items():
            conn.execute(text(f"CREATE INDEX {name} ON recurring_runs ({column})"))
    else:
        conn.execute(
            text(
                "ALTER TABLE recurring_runs ADD COLUMN namespace VARCHAR NOT NULL DEFAULT 'default'"
            )
        )
        inspector = inspect(conn)
        for constraint in inspector.get_unique_constraints("recurring_runs"):
            if constraint["column_names"] == ["name"] and constraint["name"]:
                conn.execute(
                    text(f'ALTER TABLE recurring_runs DROP CONSTRAINT "{constraint["name"]}"')
                )
    rows = conn.execute(text("SELECT id, spec FROM recurring_runs")).all()
    for row_id, spec in rows:
        namespace = workflow_namespace(_as_dict(spec).get("workflow") or {})
        conn.execute(
            text("UPDATE recurring_runs SET namespace = :ns WHERE id = :id"),
            {"ns": namespace, "id": row_id},
        )
    conn.execute(
        text("CREATE UNIQUE INDEX ux_recurring_runs_name ON recurring_runs (namespace, name)")
    )


def _as_dict(value: Any) -> Mapping[str, Any]:
    """A JSON column read through `text()`: a string on SQLite, already a dict on PostgreSQL."""
    loaded = json.loads(value) if isinstance(value, (str, bytes)) else value
    return loaded if isinstance(loaded, Mapping) else {}


STEPS: dict[int, Step] = {1: _namespaced_names}
