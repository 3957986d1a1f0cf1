"""Recurring-run names are unique per namespace, never across, on SQLite and PostgreSQL; a name
lookup never sees another namespace; a database written with schema 1 (names unique globally)
is migrated in place, keeping every row and its fires."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sched_support import WORKFLOW, create
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
    inspect,
    select,
)

from engine.metadata.store import MetadataStore
from scheduler.errors import RecurringRunExists, RecurringRunNotFound
from scheduler.spec import RecurringRunSpec
from scheduler.store import RecurringStore
from scheduler.tables import SCHEMA_VERSION

T0 = 1_800_000_000


def _in(namespace: str | None, name: str = "nightly") -> RecurringRunSpec:
    workflow: dict[str, Any] = json.loads(json.dumps(WORKFLOW))
    if namespace is not None:
        workflow["metadata"]["namespace"] = namespace
    trigger = {"kind": "cron", "expressions": ["0 * * * *"]}
    return RecurringRunSpec(name=name, workflow=workflow, trigger=trigger)  # type: ignore[arg-type]


def test_the_same_name_in_two_namespaces(stores: tuple[RecurringStore, MetadataStore]) -> None:
    store, _ = stores
    a = create(store, _in("team-a"), T0)
    b = create(store, _in("team-b"), T0)  # was a 409 revealing team-a's recurring run
    assert a.id != b.id and (a.namespace, b.namespace) == ("team-a", "team-b")
    with pytest.raises(RecurringRunExists) as taken:
        create(store, _in("team-a"), T0)
    assert "team-a" in str(taken.value) and "team-b" not in str(taken.value)
    assert store.lookup("nightly", "team-a").id == a.id
    assert store.lookup("nightly", "team-b").id == b.id
    assert store.lookup(a.id, "team-a").id == a.id
    for ref in ("nightly", a.id):
        with pytest.raises(RecurringRunNotFound):
            store.lookup(ref, "team-c")
    with pytest.raises(RecurringRunNotFound):
        store.lookup(a.id, "team-b")  # an id from another namespace is not found either
    assert [r.id for r in store.list_all("team-b")] == [b.id]
    assert [r.namespace for r in store.list_all()] == ["team-a", "team-b"]
    store.delete(a.id)
    assert [r.id for r in store.list_all()] == [b.id]


def test_no_namespace_is_the_default_one(stores: tuple[RecurringStore, MetadataStore]) -> None:
    store, _ = stores
    rec = create(store, _in(None), T0)
    assert rec.namespace == "default" and store.lookup("nightly", "default").id == rec.id
    with pytest.raises(RecurringRunExists):
        create(store, _in("default"), T0)


# Schema 1, as kubepipe wrote it before names were namespaced (names unique across the database).
def _v1_tables() -> MetaData:
    md = MetaData()
    Table("kubepipe_scheduler_schema", md, Column("id", Integer, primary_key=True),
          Column("version", Integer, nullable=False))  # fmt: skip
    Table(
        "recurring_runs", md,
        Column("id", String, primary_key=True),
        Column("name", String, nullable=False, unique=True),
        Column("spec", JSON, nullable=False),
        Column("enabled", Boolean, nullable=False, index=True),
        Column("created_at", Float, nullable=False),
        Column("updated_at", Float, nullable=False),
        Column("cursor", BigInteger, nullable=False),
        Column("last_scheduled_time", BigInteger),
        Column("next_fire_time", BigInteger, index=True),
        Column("generation", Integer, nullable=False),
        Column("history_limited", Boolean, nullable=False, index=True),
    )  # fmt: skip
    Table(
        "recurring_fires", md,
        Column("seq", Integer, primary_key=True),
        Column("recurring_id", String, nullable=False),
        Column("scheduled_time", BigInteger, nullable=False),
        Column("state", String, nullable=False),
        Column("run_id", String), Column("run_name", String),
        Column("reason", String, nullable=False),
        Column("created_at", Float, nullable=False),
        Column("finished", Boolean, nullable=False),
        Index("ux_recurring_fires_time", "recurring_id", "scheduled_time", unique=True),
        Index("ix_recurring_fires_state", "state"),
    )  # fmt: skip
    Table("recurring_changes", md, Column("id", Integer, primary_key=True),
          Column("counter", Integer, nullable=False))  # fmt: skip
    return md


def _write_v1(url: str) -> None:
    md = _v1_tables()
    engine = create_engine(url)
    md.create_all(engine)
    t = md.tables
    rows = [("r1", "nightly", "team-a"), ("r2", "hourly", None), ("r3", "weekly", "team-b")]
    with engine.begin() as conn:
        conn.execute(insert(t["kubepipe_scheduler_schema"]), [{"id": 1, "version": 1}])
        conn.execute(insert(t["recurring_changes"]), [{"id": 1, "counter": 7}])
        for rid, name, namespace in rows:
            s = _in(namespace, name)
            conn.execute(
                insert(t["recurring_runs"]),
                [
                    {
                        "id": rid,
                        "name": name,
                        "spec": s.model_dump(mode="json"),
                        "enabled": rid != "r3",
                        "created_at": T0,
                        "updated_at": T0,
                        "cursor": T0,
                        "last_scheduled_time": T0,
                        "next_fire_time": T0 + 3600,
                        "generation": 2,
                        "history_limited": False,
                    }
                ],
            )
        conn.execute(
            insert(t["recurring_fires"]),
            [
                {
                    "recurring_id": "r1",
                    "scheduled_time": T0,
                    "state": "Created",
                    "run_id": "run1",
                    "run_name": f"nightly-{T0}",
                    "reason": "",
                    "created_at": T0,
                    "finished": True,
                }
            ],
        )
    engine.dispose()


def test_a_schema_1_database_is_migrated(db_url: str) -> None:
    _write_v1(db_url)
    store = RecurringStore(db_url)
    try:
        by_id = {r.id: r for r in store.list_all()}
        assert {k: (r.namespace, r.name, r.enabled) for k, r in by_id.items()} == {
            "r1": ("team-a", "nightly", True),
            "r2": ("default", "hourly", True),
            "r3": ("team-b", "weekly", False),
        }
        assert by_id["r1"].cursor == T0 and by_id["r1"].generation == 2
        assert by_id["r1"].next_fire_time == T0 + 3600
        assert [f.run_id for f in store.fires("r1")] == ["run1"]
        assert store.change_counter() == 7
        # Names are now unique per namespace: team-b may take team-a's name, team-a may not.
        other = create(store, _in("team-b", "nightly"), T0)
        assert store.lookup("nightly", "team-b").id == other.id
        assert store.lookup("nightly", "team-a").id == "r1"
        with pytest.raises(RecurringRunExists):
            create(store, _in("team-a", "nightly"), T0)
        engine = create_engine(db_url)
        with engine.connect() as conn:
            schema = _v1_tables().tables["kubepipe_scheduler_schema"]
            version = conn.execute(select(schema.c.version)).scalar_one()
            indexes = {i["name"]: i for i in inspect(conn).get_indexes("recurring_runs")}
        engine.dispose()
        assert version == SCHEMA_VERSION == 2
        assert indexes["ux_recurring_runs_name"]["column_names"] == ["namespace", "name"]
        assert {"ix_recurring_runs_enabled", "ix_recurring_runs_next_fire_time"} <= set(indexes)
    finally:
        store.close()
    RecurringStore(db_url).close()  # opening it again is a no-op
