"""Run listings (`list_runs`, `page_runs`) on SQLite and PostgreSQL: every filter, sort key and
order, pages that tile the result, refused filters naming the field, and the 3 -> 4 upgrade that
adds the listing indexes."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import Column, MetaData, String, Table, event, insert, inspect, select, text

from engine.metadata.migrations import BASELINE
from engine.metadata.store import (
    MetadataStore,
    RunFilter,
    RunFilterError,
    RunSortKey,
    SortOrder,
)
from engine.metadata.tables import RUN_LISTING_INDEXES, SCHEMA_VERSION
from engine.phases import RunPhase
from engine.state import RunRecord


def _run(
    name: str,
    created: float,
    *,
    namespace: str = "default",
    phase: RunPhase = RunPhase.PENDING,
    started: float | None = None,
    finished: float | None = None,
    run_id: str | None = None,
) -> RunRecord:
    return RunRecord(
        id=run_id or uuid.uuid4().hex[:12],
        name=name,
        uid=str(uuid.uuid4()),
        namespace=namespace,
        phase=phase,
        created_at=created,
        started_at=started,
        finished_at=finished,
        manifest={"kind": "Workflow"},
    )


@pytest.fixture
def runs(store: MetadataStore) -> list[RunRecord]:
    """Six runs over two namespaces and three phases; created_at ties between b and c."""
    made = [
        _run("train-a", 1.0, phase=RunPhase.SUCCEEDED, started=1.5, finished=3.0, run_id="r1"),
        _run("Train-B", 2.0, namespace="team", phase=RunPhase.FAILED, started=2.5, finished=9.0,
             run_id="r2"),
        _run("eval_c", 2.0, phase=RunPhase.RUNNING, started=2.2, run_id="r3"),
        _run("eval%d", 4.0, namespace="team", run_id="r4"),
        _run("deploy", 5.0, phase=RunPhase.SUCCEEDED, started=5.1, finished=6.0, run_id="r5"),
        _run("train-f", 6.0, namespace="other", run_id="r6"),
    ]  # fmt: skip
    for r in made:
        store.create_run(r)
    return made


def _ids(store: MetadataStore, **kw: object) -> list[str]:
    page = store.page_runs(RunFilter(**kw))  # type: ignore[arg-type]
    full = [r.id for r in store.list_runs(RunFilter(**kw))]  # type: ignore[arg-type]
    assert [r.id for r in page.runs] == full, "page_runs and list_runs must agree"
    return full


def test_default_listing_is_newest_first_like_kubepipe_list(
    store: MetadataStore, runs: list[RunRecord]
) -> None:
    assert [r.id for r in store.list_runs()] == ["r6", "r5", "r4", "r3", "r2", "r1"]
    assert store.list_runs()[0].manifest == {"kind": "Workflow"}  # whole records
    assert store.page_runs(RunFilter()).total == 6


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({"namespaces": ["team"]}, ["r4", "r2"]),
        ({"namespaces": ["team", "other"]}, ["r6", "r4", "r2"]),
        ({"namespaces": []}, []),
        ({"phases": [RunPhase.SUCCEEDED]}, ["r5", "r1"]),
        ({"phases": ["Running", "Failed"]}, ["r3", "r2"]),
        ({"phase": RunPhase.PENDING}, ["r6", "r4"]),
        ({"name": "deploy"}, ["r5"]),
        ({"name_contains": "train"}, ["r6", "r2", "r1"]),  # case-insensitive on both databases
        ({"name_contains": "%"}, ["r4"]),  # LIKE wildcards are literal
        ({"name_contains": "_"}, ["r3"]),
        ({"created_after": 2.0}, ["r6", "r5", "r4", "r3", "r2"]),  # inclusive
        ({"created_before": 2.0}, ["r1"]),  # exclusive
        ({"created_after": 2.0, "created_before": 5.0}, ["r4", "r3", "r2"]),
        ({"run_ids": ["r1", "r5", "nope"]}, ["r5", "r1"]),
        ({"run_ids": []}, []),
        ({"namespaces": ["default"], "phases": ["Succeeded"], "name_contains": "A"}, ["r1"]),
    ],
)
def test_filters(
    store: MetadataStore, runs: list[RunRecord], kw: dict[str, object], expected: list[str]
) -> None:
    assert _ids(store, **kw) == expected
    assert store.page_runs(RunFilter(**kw, limit=1)).total == len(expected)  # type: ignore[arg-type]


def test_a_run_id_subset_may_be_a_select_on_the_same_database(
    store: MetadataStore, runs: list[RunRecord]
) -> None:
    """What the server does with its own run-links table: the database does the semi-join."""
    links = Table("test_links", MetaData(), Column("run_id", String), Column("grp", String))
    links.create(store._engine)
    with store._engine.begin() as conn:
        conn.execute(
            insert(links),
            [{"run_id": i, "grp": g} for i, g in [("r2", "x"), ("r6", "x"), ("r3", "y")]],
        )
    ids = select(links.c.run_id).where(links.c.grp == "x")
    assert _ids(store, run_ids=ids) == ["r6", "r2"]
    assert store.page_runs(RunFilter(run_ids=ids, phases=[RunPhase.FAILED])).total == 1


@pytest.mark.parametrize(
    ("sort", "order", "expected"),
    [
        ("created_at", "asc", ["r1", "r2", "r3", "r4", "r5", "r6"]),  # tie 2.0: id breaks it
        ("created_at", "desc", ["r6", "r5", "r4", "r3", "r2", "r1"]),
        ("name", "asc", ["Train-B", "deploy", "eval%d", "eval_c", "train-a", "train-f"]),
        ("phase", "asc", ["r2", "r4", "r6", "r3", "r1", "r5"]),
        # Never-started runs sort as the latest time: last ascending, first descending.
        ("started_at", "asc", ["r1", "r3", "r2", "r5", "r4", "r6"]),
        ("started_at", "desc", ["r6", "r4", "r5", "r2", "r3", "r1"]),
        ("finished_at", "desc", ["r6", "r4", "r3", "r2", "r5", "r1"]),
        ("finished_at", "asc", ["r1", "r5", "r2", "r3", "r4", "r6"]),
    ],
)
def test_sort_keys_and_orders(
    store: MetadataStore, runs: list[RunRecord], sort: str, order: str, expected: list[str]
) -> None:
    flt = RunFilter(sort=RunSortKey(sort), order=SortOrder(order))
    got = store.page_runs(flt).runs
    if sort == "name":
        assert [r.name for r in got] == expected  # byte order: upper case first, both databases
    else:
        assert [r.id for r in got] == expected
    assert [r.id for r in store.list_runs(flt)] == [r.id for r in got]


def test_pages_tile_the_listing_without_gaps_or_repeats(store: MetadataStore) -> None:
    for i in range(23):
        store.create_run(_run(f"wf-{i}", float(i // 3)))  # many created_at ties
    seen: list[str] = []
    for offset in range(0, 30, 5):
        page = store.page_runs(RunFilter(limit=5, offset=offset, order=SortOrder.ASC))
        assert page.total == 23
        seen += [r.id for r in page.runs]
    assert len(seen) == 23 == len(set(seen))
    assert seen == [r.id for r in store.list_runs(RunFilter(order=SortOrder.ASC))]
    beyond = store.page_runs(RunFilter(limit=5, offset=100))
    assert beyond.runs == [] and beyond.total == 23


def test_summaries_carry_the_listing_columns(store: MetadataStore, runs: list[RunRecord]) -> None:
    (r2,) = store.page_runs(RunFilter(run_ids=["r2"])).runs
    assert (r2.name, r2.namespace, r2.phase, r2.created_at) == (
        "Train-B",
        "team",
        RunPhase.FAILED,
        2.0,
    )
    assert (r2.started_at, r2.finished_at, r2.message) == (2.5, 9.0, "")


@pytest.mark.parametrize(
    ("kw", "field", "message"),
    [
        ({"offset": -1}, "offset", "-1 is negative; give 0 or more"),
        ({"limit": 0}, "limit", "0 is not a positive page size"),
        ({"sort": "colour"}, "sort", "unknown value 'colour'; use one of: created_at, started_at"),
        ({"order": "sideways"}, "order", "unknown value 'sideways'; use one of: asc, desc"),
        ({"phases": ["Sleeping"]}, "phases", "unknown value 'Sleeping'; use one of: Pending"),
        ({"phases": "Running"}, "phases", "give a list of phases, not one string"),
        ({"namespaces": "team"}, "namespaces", "give a list of namespaces, not one string"),
        ({"created_after": 5.0, "created_before": 1.0}, "created_after", "swap them"),
    ],
)
def test_bad_filters_are_refused_naming_the_field(
    kw: dict[str, object], field: str, message: str
) -> None:
    with pytest.raises(RunFilterError, match=f"RunFilter.{field}: .*{message}".replace("(", r"\(")):
        RunFilter(**kw)  # type: ignore[arg-type]
    try:
        RunFilter(**kw)  # type: ignore[arg-type]
    except RunFilterError as exc:
        assert exc.field == field


def test_upgrading_a_version_3_database_adds_the_listing_indexes(store: MetadataStore) -> None:
    assert SCHEMA_VERSION == 4 and BASELINE == 3
    store.create_run(_run("kept", 1.0, run_id="old"))
    with store._engine.begin() as conn:  # make it look like a database kubepipe 3 wrote
        for name in RUN_LISTING_INDEXES:
            conn.execute(text(f"DROP INDEX {name}"))
        conn.execute(text("UPDATE kubepipe_schema SET version = 3"))
    assert not set(RUN_LISTING_INDEXES) & _run_indexes(store)
    upgraded = MetadataStore(store.url)
    try:
        assert set(RUN_LISTING_INDEXES) <= _run_indexes(upgraded)
        with upgraded._engine.connect() as conn:
            assert conn.execute(text("SELECT version FROM kubepipe_schema")).scalar_one() == 4
        assert [r.id for r in upgraded.list_runs()] == ["old"]
    finally:
        upgraded.close()


def _run_indexes(store: MetadataStore) -> set[str]:
    with store._engine.connect() as conn:
        return {ix["name"] for ix in inspect(conn).get_indexes("runs") if ix["name"]}


def test_sqlite_finds_a_deep_page_on_the_covering_index(tmp_path: Path) -> None:
    """The page's key subquery must walk (created_at, id) alone, so OFFSET skips index entries."""
    store = MetadataStore(f"sqlite:///{tmp_path / 'kp.db'}")
    seen: list[tuple[str, object]] = []

    def capture(_conn: object, _cursor: object, statement: str, params: object, *_: object) -> None:
        seen.append((statement, params))

    event.listen(store._engine, "before_cursor_execute", capture)
    store.page_runs(RunFilter(limit=50, offset=24_950))
    event.remove(store._engine, "before_cursor_execute", capture)
    statement, params = seen[0]
    with store._engine.connect() as conn:
        plan = " | ".join(
            str(row[-1])
            for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)  # type: ignore[arg-type]
        )
    store.close()
    assert "USING COVERING INDEX ix_runs_created_id" in plan, plan
    # The outer query reads only the page's rows by primary key (its final sort is 50 rows).
    assert "SEARCH runs USING INDEX sqlite_autoindex_runs_1 (id=?)" in plan, plan
    assert "SCAN runs |" not in plan + " |", plan  # never the whole table
