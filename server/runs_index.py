"""Listing runs a page at a time, filtered and sorted in SQL.

The engine's `MetadataStore.list_runs(RunFilter)` filters by phase and name only, newest first,
with no offset, namespace or time window, which a paged API over 100,000 runs needs. Until it
grows those, this module reads the engine's `runs` table directly, read-only and only the summary
columns, joined with the server's own run links (experiment, pipeline). It never writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from engine.metadata.tables import RunRow
from engine.phases import RunPhase
from server.schemas import RunSortField, SortOrder
from server.store import RUN_LINKS

_RUNS = RunRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class RunQuery:
    namespace: str | None = None
    phases: Sequence[RunPhase] = ()
    experiment_id: str | None = None
    pipeline_id: str | None = None
    created_after: float | None = None
    created_before: float | None = None
    name_contains: str | None = None
    sort: RunSortField = RunSortField.CREATED_AT
    order: SortOrder = SortOrder.DESC
    page: int = 1
    page_size: int = 50


@dataclass(frozen=True)
class RunRowSummary:
    id: str
    name: str
    namespace: str
    phase: RunPhase
    message: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    experiment_id: str | None
    pipeline_id: str | None
    pipeline_version_id: str | None
    retry_of: str | None


def _conditions(q: RunQuery) -> list[Any]:
    where: list[Any] = []
    if q.namespace is not None:
        where.append(_RUNS.c.namespace == q.namespace)
    if q.phases:
        where.append(_RUNS.c.phase.in_([p.value for p in q.phases]))
    if q.experiment_id is not None:
        where.append(RUN_LINKS.c.experiment_id == q.experiment_id)
    if q.pipeline_id is not None:
        where.append(RUN_LINKS.c.pipeline_id == q.pipeline_id)
    if q.created_after is not None:
        where.append(_RUNS.c.created_at >= q.created_after)
    if q.created_before is not None:
        where.append(_RUNS.c.created_at < q.created_before)
    if q.name_contains:
        where.append(_RUNS.c.name.contains(q.name_contains, autoescape=True))
    return where


def list_runs(engine: Engine, q: RunQuery) -> tuple[list[RunRowSummary], int]:
    """One page of runs and the number matching the filter."""
    joined = _RUNS.outerjoin(RUN_LINKS, RUN_LINKS.c.run_id == _RUNS.c.id)
    where = _conditions(q)
    column = _RUNS.c[q.sort.value]
    ordering = column.asc() if q.order is SortOrder.ASC else column.desc()
    tiebreak = _RUNS.c.id.asc() if q.order is SortOrder.ASC else _RUNS.c.id.desc()
    stmt = (
        select(
            _RUNS.c.id,
            _RUNS.c.name,
            _RUNS.c.namespace,
            _RUNS.c.phase,
            _RUNS.c.message,
            _RUNS.c.created_at,
            _RUNS.c.started_at,
            _RUNS.c.finished_at,
            RUN_LINKS.c.experiment_id,
            RUN_LINKS.c.pipeline_id,
            RUN_LINKS.c.pipeline_version_id,
            RUN_LINKS.c.retry_of,
        )
        .select_from(joined)
        .where(*where)
        .order_by(ordering, tiebreak)
        .offset((q.page - 1) * q.page_size)
        .limit(q.page_size)
    )
    count = select(func.count()).select_from(joined).where(*where)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
        total = int(conn.execute(count).scalar_one())
    return [
        RunRowSummary(
            id=r.id,
            name=r.name,
            namespace=r.namespace,
            phase=RunPhase(r.phase),
            message=r.message or "",
            created_at=r.created_at,
            started_at=r.started_at,
            finished_at=r.finished_at,
            experiment_id=r.experiment_id,
            pipeline_id=r.pipeline_id,
            pipeline_version_id=r.pipeline_version_id,
            retry_of=r.retry_of,
        )
        for r in rows
    ], total
