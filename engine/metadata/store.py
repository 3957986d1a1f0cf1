"""`MetadataStore`: intent-named reads and writes over the metadata tables, on any SQLAlchemy URL.

Callers (engine, CLI, server, scheduler) never hold sessions or import tables. Writes of a run's
progress go through `commit(state)`: one transaction holding every node created or changed and
every transition event since the last commit, written with executemany so that a 10,000-node run
does not pay one round trip per row.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from engine._compat import StrEnum
from engine.errors import KubepipeError, RunClaimed, RunFilterError, RunNotFound
from engine.metadata.migrations import upgrade
from engine.metadata.tables import (
    ArtifactRow,
    CacheEntryRow,
    LogRow,
    NodeEventRow,
    NodeRow,
    ResumeRequestRow,
    RunRow,
)
from engine.phases import NodePhase, NodeType, RunPhase
from engine.state import ArtifactRecord, LogRecord, NodeEvent, NodeRecord, RunRecord, RunState

_NODE_COLUMNS = [c.name for c in NodeRow.__table__.columns]
# Built once: constructing this statement per commit cost more than executing it.
_NODE_UPDATE = (
    NodeRow.__table__.update()
    .where(NodeRow.__table__.c.run_id == bindparam("b_run_id"))
    .where(NodeRow.__table__.c.id == bindparam("b_id"))
    .values({c: bindparam(c) for c in _NODE_COLUMNS if c not in ("run_id", "id")})
)
_RUN_COLUMNS = [c.name for c in RunRow.__table__.columns]
_RUNS = RunRow.__table__  # type: ignore[attr-defined]
_E = TypeVar("_E", bound=Enum)


class RunSortKey(StrEnum):
    """Columns a run listing can be ordered by; each has an index ending in `id` (the tie-break)."""

    CREATED_AT = "created_at"
    STARTED_AT = "started_at"
    FINISHED_AT = "finished_at"
    NAME = "name"
    PHASE = "phase"


class SortOrder(StrEnum):
    ASC = "asc"
    DESC = "desc"


# An explicit subset of run ids: a collection, or a one-column SELECT on the same database (how
# the server narrows to an experiment's or a pipeline's runs without copying ids through Python).
RunIds = Collection[str] | Select[Any]


@dataclass(frozen=True)
class RunFilter:
    """Which runs a listing returns, in which order, and which slice of them.

    Every condition is ANDed and applied in SQL. `phase` and `name` (exact) are the original
    fields `kubepipe list` and retention use; the rest serve the API's paged listing. Times are
    Unix seconds, `created_after` inclusive and `created_before` exclusive, so consecutive
    windows never count a run twice. Ties in the sort key are broken by run id in the same
    direction, so pages are stable. Runs with no `started_at`/`finished_at` sort as if that
    time were later than every other (last ascending, first descending) on both databases.
    """

    phase: RunPhase | None = None
    name: str | None = None
    limit: int = 100
    offset: int = 0
    namespaces: Collection[str] | None = None
    phases: Collection[RunPhase] = ()
    name_contains: str | None = None  # case-insensitive substring
    created_after: float | None = None
    created_before: float | None = None
    run_ids: RunIds | None = None
    sort: RunSortKey = RunSortKey.CREATED_AT
    order: SortOrder = SortOrder.DESC

    def __post_init__(self) -> None:
        # Callers pass strings from query strings and command lines; turn them into the enums
        # here so a typo fails with the allowed values instead of deep inside SQL.
        object.__setattr__(self, "sort", _coerce(RunSortKey, self.sort, "sort"))
        object.__setattr__(self, "order", _coerce(SortOrder, self.order, "order"))
        if self.phase is not None:
            object.__setattr__(self, "phase", _coerce(RunPhase, self.phase, "phase"))
        if isinstance(self.phases, str):
            raise RunFilterError("phases", "give a list of phases, not one string")
        object.__setattr__(
            self, "phases", tuple(_coerce(RunPhase, p, "phases") for p in self.phases)
        )
        if isinstance(self.namespaces, str):
            raise RunFilterError("namespaces", "give a list of namespaces, not one string")
        if not isinstance(self.limit, int) or self.limit < 1:
            raise RunFilterError(
                "limit", f"{self.limit!r} is not a positive page size; give 1 or more"
            )
        if not isinstance(self.offset, int) or self.offset < 0:
            raise RunFilterError(
                "offset", f"{self.offset!r} is negative; give 0 or more (the first page is 0)"
            )
        if (
            self.created_after is not None
            and self.created_before is not None
            and self.created_after > self.created_before
        ):
            raise RunFilterError(
                "created_after",
                f"{self.created_after} is after created_before {self.created_before}; swap them",
            )


def _coerce(enum: type[_E], value: Any, field: str) -> _E:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in enum)
        raise RunFilterError(field, f"unknown value {value!r}; use one of: {allowed}") from None


@dataclass(frozen=True)
class RunSummaryRecord:
    """A run's listing columns: what a page of runs shows, without the manifest or outputs JSON
    (loading 50 manifests per page would cost more than the query)."""

    id: str
    name: str
    namespace: str
    phase: RunPhase
    message: str
    created_at: float
    started_at: float | None
    finished_at: float | None


@dataclass(frozen=True)
class RunPage:
    """One slice of a listing and how many runs match the filter in all."""

    runs: list[RunSummaryRecord]
    total: int


_SUMMARY_COLUMNS = [_RUNS.c[f.name] for f in fields(RunSummaryRecord)]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (`kubepipe get` while a run executes) proceed during the engine's writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class MetadataStore:
    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(
                parents=True, exist_ok=True
            )
        self._engine: Engine = create_engine(url, future=True, json_deserializer=_loads)
        if self._engine.dialect.name == "sqlite":
            event.listen(self._engine, "connect", _sqlite_pragmas)
        self._ensure_schema()

    def close(self) -> None:
        self._engine.dispose()

    # -- schema ---------------------------------------------------------------------------
    def _ensure_schema(self) -> None:
        SQLModel.metadata.create_all(self._engine)
        with self._engine.begin() as conn:
            upgrade(conn, self.url)

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self._engine.begin() as conn:
            yield conn

    # -- writes ---------------------------------------------------------------------------
    def create_run(self, run: RunRecord) -> None:
        with self._tx() as conn:
            conn.execute(insert(RunRow), [_run_row(run)])

    def commit(self, state: RunState, owner: str | None = None) -> None:
        """Persist everything `state` changed since the last commit, atomically.

        With `owner`, the commit is fenced: it renews that engine's lease first and is refused
        (`RunClaimed`, nothing written) if another engine has taken the run over meanwhile, so an
        engine that stalled past its lease can never overwrite the new owner's progress.
        """
        if not state.has_changes():
            return
        with self._tx() as conn:
            self._write(conn, state, owner)
        state.clear_changes()

    def reopen_run(self, state: RunState, was: RunPhase) -> None:
        """Commit a retry of a finished run and put it back in the queue, atomically.

        `was` is the finished phase the caller read; the commit is refused (nothing written)
        unless the run is still in it, so two retries of one run cannot both apply. The stop
        request and owner of its last execution are cleared.
        """
        if not was.is_finished:
            raise KubepipeError(f"run {state.run.name} is {was.value}: it has not finished")
        with self._tx() as conn:
            reopened = conn.execute(
                update(RunRow)
                .where(RunRow.id == state.run.id)
                .where(RunRow.phase == was.value)
                .values(owner=None, heartbeat_at=None, stop_requested=None)
            )
            if reopened.rowcount != 1:
                raise KubepipeError(
                    f"run {state.run.name} is no longer {was.value} (retried or resumed "
                    "already?); look at it with `kubepipe get`"
                )
            self._write(conn, state, None)
        state.clear_changes()

    def _write(self, conn: Connection, state: RunState, owner: str | None) -> None:
        run_id = state.run.id
        if owner is not None:
            renewed = conn.execute(
                update(RunRow)
                .where(RunRow.id == run_id)
                .where(RunRow.owner == owner)
                .values(heartbeat_at=time.time())
            )
            if renewed.rowcount != 1:
                raise RunClaimed(
                    f"run {run_id} was taken over by another engine; this engine stops driving it"
                )
        if state.removed:
            removed = list(state.removed)
            for table in (NodeRow, ArtifactRow, LogRow):
                column = table.id if table is NodeRow else table.node_id
                conn.execute(delete(table).where(table.run_id == run_id).where(column.in_(removed)))
        if state.new:
            conn.execute(insert(NodeRow), [_node_row(run_id, state.nodes[i]) for i in state.new])
        if state.dirty:
            rows = [_node_row(run_id, state.nodes[i]) for i in state.dirty]
            for row in rows:
                row["b_run_id"] = row.pop("run_id")
                row["b_id"] = row.pop("id")
            conn.execute(_NODE_UPDATE, rows)
        if state.events:
            conn.execute(insert(NodeEventRow), [_event_row(run_id, e) for e in state.events])
        if state.artifacts:
            conn.execute(insert(ArtifactRow), [_artifact_row(run_id, a) for a in state.artifacts])
        if state.logs:
            conn.execute(insert(LogRow), [_log_row(run_id, a) for a in state.logs])
        if state.run_dirty:
            row = _run_row(state.run)
            row.pop("id")
            for column in ("stop_requested", "owner", "heartbeat_at"):
                row.pop(column)  # written by request_stop / claim_run / heartbeat only
            conn.execute(update(RunRow).where(RunRow.id == run_id).values(**row))

    # -- ownership: which engine executes a run ---------------------------------------------
    def claim_run(self, run_id: str, owner: str, lease_seconds: float) -> bool:
        """Take a run that nobody holds (or whose holder stopped heartbeating). Race-free: a
        compare-and-set, so two engines on PostgreSQL can never both win the same run."""
        now = time.time()
        stale = now - lease_seconds
        with self._tx() as conn:
            result = conn.execute(
                update(RunRow)
                .where(RunRow.id == run_id)
                .where(RunRow.phase.in_([RunPhase.PENDING.value, RunPhase.RUNNING.value]))
                .where(
                    (RunRow.owner.is_(None))
                    | (RunRow.owner == owner)
                    | (RunRow.heartbeat_at < stale)
                )
                .values(owner=owner, heartbeat_at=now)
            )
        return result.rowcount == 1

    def claimable_runs(self, lease_seconds: float, limit: int = 20) -> list[str]:
        """Queued runs and runs whose engine stopped heartbeating, oldest first."""
        stale = time.time() - lease_seconds
        stmt = (
            select(RunRow.id)
            .where(RunRow.phase.in_([RunPhase.PENDING.value, RunPhase.RUNNING.value]))
            .where((RunRow.owner.is_(None)) | (RunRow.heartbeat_at < stale))
            .order_by(RunRow.created_at)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [r[0] for r in conn.execute(stmt).all()]

    def heartbeat(self, run_id: str, owner: str) -> bool:
        """Renew the lease; False means another engine took the run over."""
        with self._tx() as conn:
            result = conn.execute(
                update(RunRow)
                .where(RunRow.id == run_id)
                .where(RunRow.owner == owner)
                .values(heartbeat_at=time.time())
            )
        return result.rowcount == 1

    # -- step cache ---------------------------------------------------------------------------
    def cached_outputs(self, key: str) -> tuple[str, str, dict[str, Any]] | None:
        """(run id, node id, outputs) of the step that produced `key`, if any."""
        with self._engine.connect() as conn:
            row = conn.execute(select(CacheEntryRow).where(CacheEntryRow.key == key)).first()
        return (row.run_id, row.node_id, dict(row.outputs)) if row else None

    def put_cache_entry(self, key: str, run_id: str, node_id: str, outputs: dict[str, Any]) -> None:
        """Record (or refresh) a cache entry; the newest Succeeded producer wins."""
        with self._tx() as conn:
            conn.execute(delete(CacheEntryRow).where(CacheEntryRow.key == key))
            conn.execute(
                insert(CacheEntryRow),
                [
                    {
                        "key": key,
                        "run_id": run_id,
                        "node_id": node_id,
                        "outputs": outputs,
                        "created_at": time.time(),
                    }
                ],
            )

    def request_stop(self, run_id: str, reason: str) -> None:
        with self._tx() as conn:
            conn.execute(update(RunRow).where(RunRow.id == run_id).values(stop_requested=reason))

    def stop_requested(self, run_id: str) -> str | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(RunRow.stop_requested).where(RunRow.id == run_id)).first()
        return row[0] if row else None

    def request_resume(self, run_id: str, node: str | None, outputs: dict[str, str]) -> None:
        with self._tx() as conn:
            conn.execute(
                insert(ResumeRequestRow),
                [{"run_id": run_id, "node": node, "outputs": outputs, "created_at": time.time()}],
            )

    def take_resume_requests(self, run_id: str) -> list[tuple[str | None, dict[str, str]]]:
        """Read and delete a run's resume requests in one transaction: each is acted on once."""
        with self._tx() as conn:
            rows = conn.execute(
                select(ResumeRequestRow)
                .where(ResumeRequestRow.run_id == run_id)
                .order_by(ResumeRequestRow.seq)
            ).all()
            if rows:
                conn.execute(
                    delete(ResumeRequestRow).where(ResumeRequestRow.seq.in_([r.seq for r in rows]))
                )
        return [(r.node, dict(r.outputs)) for r in rows]

    def artifact_keys_reused_from(self, run_id: str) -> set[str]:
        """Artifact keys of `run_id` that other runs' cached steps still point at."""
        keys: set[str] = set()
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(NodeRow.extra, NodeRow.outputs).where(NodeRow.run_id != run_id)
            ).all()
        for extra, outputs in rows:
            if (extra or {}).get("cached_from", {}).get("run") != run_id:
                continue
            for art in ((outputs or {}).get("artifacts") or {}).values():
                if isinstance(art, dict) and art.get("key"):
                    keys.add(art["key"])
        return keys

    def delete_run(self, run_id: str) -> None:
        with self._tx() as conn:
            for table in (
                LogRow,
                ArtifactRow,
                NodeEventRow,
                NodeRow,
                ResumeRequestRow,
                CacheEntryRow,
            ):
                conn.execute(delete(table).where(table.run_id == run_id))
            conn.execute(delete(RunRow).where(RunRow.id == run_id))

    # -- reads ----------------------------------------------------------------------------
    def resolve_run(self, ref: str) -> RunRecord:
        """Find a run by id, id prefix or name (the newest run of that name)."""
        with self._engine.connect() as conn:
            row = conn.execute(select(RunRow).where(RunRow.id == ref)).first()
            if row is None:
                row = conn.execute(
                    select(RunRow).where(RunRow.name == ref).order_by(RunRow.created_at.desc())
                ).first()
            if row is None and len(ref) >= 4:
                rows = conn.execute(select(RunRow).where(RunRow.id.startswith(ref))).all()
                if len(rows) > 1:
                    raise RunNotFound(f"run id prefix {ref!r} is ambiguous; give more characters")
                row = rows[0] if rows else None
        if row is None:
            raise RunNotFound(f"no run with id or name {ref!r} (see `kubepipe list`)")
        return _run_record(row._mapping)

    def load_state(self, run_id: str) -> RunState:
        run = self.resolve_run(run_id)
        with self._engine.connect() as conn:
            rows = conn.execute(select(NodeRow).where(NodeRow.run_id == run.id)).all()
        return RunState(run, [_node_record(r._mapping) for r in rows])

    def list_runs(self, flt: RunFilter = RunFilter()) -> list[RunRecord]:
        """Whole run records (manifest included) matching `flt`, in its order and slice.

        For callers that act on each run (retention, the scheduler, `kubepipe list`); a paged
        view that only shows runs should use `page_runs`, which skips the JSON columns.
        """
        stmt = _ordered(select(_RUNS).where(*_conditions(flt)), flt)
        with self._engine.connect() as conn:
            rows = conn.execute(stmt.offset(flt.offset).limit(flt.limit)).all()
        return [_run_record(r._mapping) for r in rows]

    def page_runs(self, flt: RunFilter) -> RunPage:
        """One page of run summaries matching `flt` and the number of runs matching in all.

        The page is found by a key-only subquery (ids in order, over the covering index of the
        sort key) and only its `limit` rows are read whole, so a deep OFFSET skips index
        entries rather than table rows; the count runs in the same snapshot-consistent
        connection.
        """
        where = _conditions(flt)
        keys = _ordered(select(_RUNS.c.id).where(*where), flt)
        page = keys.offset(flt.offset).limit(flt.limit).subquery("page")
        stmt = _ordered(select(*_SUMMARY_COLUMNS).join(page, page.c.id == _RUNS.c.id), flt)
        count = select(func.count()).select_from(_RUNS).where(*where)
        with self._engine.connect() as conn:
            rows = conn.execute(stmt).all()
            total = int(conn.execute(count).scalar_one())
        return RunPage(
            [
                RunSummaryRecord(
                    id=r.id,
                    name=r.name,
                    namespace=r.namespace,
                    phase=RunPhase(r.phase),
                    message=r.message or "",
                    created_at=r.created_at,
                    started_at=r.started_at,
                    finished_at=r.finished_at,
                )
                for r in rows
            ],
            total,
        )

    def node_events(self, run_id: str) -> list[NodeEvent]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(NodeEventRow).where(NodeEventRow.run_id == run_id).order_by(NodeEventRow.seq)
            ).all()
        return [
            NodeEvent(
                r.node_id,
                NodePhase(r.from_phase) if r.from_phase else None,
                NodePhase(r.to_phase),
                r.reason,
                r.at,
            )
            for r in rows
        ]

    def artifacts(self, run_id: str) -> list[ArtifactRecord]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(ArtifactRow).where(ArtifactRow.run_id == run_id).order_by(ArtifactRow.seq)
            ).all()
        return [
            ArtifactRecord(r.node_id, r.name, r.uri, r.sha256, r.size, r.archived, r.created_at)
            for r in rows
        ]

    def logs(self, run_id: str, node_id: str | None = None) -> list[LogRecord]:
        stmt = select(LogRow).where(LogRow.run_id == run_id).order_by(LogRow.seq)
        if node_id is not None:
            stmt = stmt.where(LogRow.node_id == node_id)
        with self._engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [LogRecord(r.node_id, r.stream, r.uri, r.sha256, r.size, r.created_at) for r in rows]

    def count_runs(self) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(_RUNS)).scalar_one())


def _conditions(flt: RunFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if flt.phase is not None:
        where.append(_RUNS.c.phase == flt.phase.value)
    if flt.phases:
        where.append(_RUNS.c.phase.in_([p.value for p in flt.phases]))
    if flt.name is not None:
        where.append(_RUNS.c.name == flt.name)
    if flt.name_contains:
        where.append(_RUNS.c.name.icontains(flt.name_contains, autoescape=True))
    if flt.namespaces is not None:
        where.append(_RUNS.c.namespace.in_(list(flt.namespaces)))
    if flt.created_after is not None:
        where.append(_RUNS.c.created_at >= flt.created_after)
    if flt.created_before is not None:
        where.append(_RUNS.c.created_at < flt.created_before)
    if flt.run_ids is not None:
        ids = flt.run_ids if isinstance(flt.run_ids, Select) else list(flt.run_ids)
        where.append(_RUNS.c.id.in_(ids))
    return where


def _ordered(stmt: Select[Any], flt: RunFilter) -> Select[Any]:
    """`stmt` ordered by the filter's key, ties by id; NULL times sort as the latest time."""
    column, tiebreak = _RUNS.c[flt.sort.value], _RUNS.c.id
    if flt.order is SortOrder.ASC:
        key = column.asc()
        key = key.nulls_last() if column.nullable else key
        return stmt.order_by(key, tiebreak.asc())
    key = column.desc()
    key = key.nulls_first() if column.nullable else key
    return stmt.order_by(key, tiebreak.desc())


def _node_row(run_id: str, node: NodeRecord) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "id": node.id,
        "name": node.name,
        "display_name": node.display_name,
        "type": node.type.value,
        "template_name": node.template_name,
        "phase": node.phase.value,
        "boundary_id": node.boundary_id,
        "parent_id": node.parent_id,
        "seq": node.seq,
        "started_at": node.started_at,
        "finished_at": node.finished_at,
        "exit_code": node.exit_code,
        "message": node.message,
        "attempt": node.attempt,
        "inputs": node.inputs,
        "outputs": node.outputs,
        "handle": node.handle,
        "extra": node.extra,
    }


_EMPTY_JSON: dict[str, Any] = {"{}": {}, "[]": [], "null": None}


def _loads(text: str) -> Any:
    """json.loads, skipping the parser for the empty values most node columns hold; a fresh
    container each time, since callers mutate what they load."""
    if text in _EMPTY_JSON:
        empty = _EMPTY_JSON[text]
        return type(empty)() if empty is not None else None
    return json.loads(text)


def _node_record(row: Any) -> NodeRecord:
    data = {c: row[c] for c in _NODE_COLUMNS if c != "run_id"}
    data["type"] = NodeType(data["type"])
    data["phase"] = NodePhase(data["phase"])
    return NodeRecord(**data)


def _run_row(run: RunRecord) -> dict[str, Any]:
    return {
        "id": run.id,
        "name": run.name,
        "namespace": run.namespace,
        "uid": run.uid,
        "phase": run.phase.value,
        "message": run.message,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "source": run.source,
        "manifest": run.manifest,
        "parameters": run.parameters,
        "outputs": run.outputs,
        "entry_node_id": run.entry_node_id,
        "exit_node_id": run.exit_node_id,
        "stop_requested": run.stop_requested,
        "owner": run.owner,
        "heartbeat_at": run.heartbeat_at,
    }


def _run_record(row: Any) -> RunRecord:
    data = {c: row[c] for c in _RUN_COLUMNS}
    data["phase"] = RunPhase(data["phase"])
    return RunRecord(**data)


def _event_row(run_id: str, e: NodeEvent) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "node_id": e.node_id,
        "from_phase": e.from_phase.value if e.from_phase else None,
        "to_phase": e.to_phase.value,
        "reason": e.reason,
        "at": e.at,
    }


def _artifact_row(run_id: str, a: ArtifactRecord) -> dict[str, Any]:
    return {"run_id": run_id, **asdict(a)}  # the record's fields are the table's columns


def _log_row(run_id: str, a: LogRecord) -> dict[str, Any]:
    return {"run_id": run_id, **asdict(a)}
