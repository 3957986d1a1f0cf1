"""Schema versions and the steps between them.

The `kubepipe_schema` table records the version a database was last upgraded to. Opening a
database runs every step from its version up to `SCHEMA_VERSION` in one transaction; a database
newer than this kubepipe is refused (an old kubepipe must not write a schema it does not know),
and so is one written by a development build before `BASELINE`, which has no upgrade path.
New tables need no step (`create_all` adds them); a new column or index on an existing table
gets one here, written in SQL both SQLite and PostgreSQL accept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import insert, select, text, update
from sqlalchemy.engine import Connection

from engine.errors import KubepipeError
from engine.metadata.tables import RUN_LISTING_INDEXES, SCHEMA_VERSION, SchemaInfo

BASELINE = 3  # the first schema with an upgrade path

Step = Callable[[Connection], None]


def _add_run_listing_indexes(conn: Connection) -> None:
    """3 -> 4: the (sort key, id) indexes paged run listings walk instead of sorting the table."""
    for name, columns in RUN_LISTING_INDEXES.items():
        conn.execute(text(f"CREATE INDEX IF NOT EXISTS {name} ON runs ({', '.join(columns)})"))


# STEPS[n] upgrades a database from version n to n + 1.
STEPS: Mapping[int, Step] = {3: _add_run_listing_indexes}


def upgrade(
    conn: Connection,
    url: str,
    steps: Mapping[int, Step] = STEPS,
    target: int = SCHEMA_VERSION,
    *,
    table: Any = SchemaInfo,
    baseline: int = BASELINE,
    what: str = "schema",
) -> int:
    """Bring the schema at `conn` to `target`; returns the version it started from.

    `table` (a table shaped like `SchemaInfo`: `id`, `version`) and `baseline` let another
    package that keeps its own tables in the same database (the scheduler) version them apart;
    `what` names that schema in messages ("scheduler schema").
    """
    row = conn.execute(select(table.version)).first()
    if row is None:
        conn.execute(insert(table), [{"id": 1, "version": target}])
        return target
    current = int(row[0])
    if current > target:
        raise KubepipeError(
            f"the database at {url} has {what} version {current}, newer than this kubepipe "
            f"understands ({target}); upgrade kubepipe"
        )
    if current < baseline:
        raise KubepipeError(
            f"the database at {url} has {what} version {current}, written by a development build of "
            "kubepipe with no upgrade path; move it aside (or point KUBEPIPE_HOME / KUBEPIPE_DB_URL "
            "elsewhere) and kubepipe creates a fresh one"
        )
    for version in range(current, target):
        step = steps.get(version)
        if step is None:
            raise KubepipeError(
                f"no upgrade step from {what} version {version} to {version + 1} (a kubepipe bug)"
            )
        step(conn)
    if current != target:
        conn.execute(update(table).where(table.id == 1).values(version=target))
    return current
