"""Listing runs a page at a time for the API, through the engine's `MetadataStore.page_runs`.

The engine owns the `runs` table and its listing (filters, sort, offset, count, indexes); this
module only translates the API's query into a `RunFilter` and adds what the server alone knows
about each run, its links (experiment, pipeline, version, retry). Filtering by experiment or
pipeline hands the store a one-column SELECT over the server's link table, so the database
does the semi-join and no id list crosses Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from engine.metadata.store import (
    MetadataStore,
    RunFilter,
    RunFilterError,
    RunIds,
    RunSortKey,
    RunSummaryRecord,
)
from engine.metadata.store import SortOrder as StoreOrder
from engine.phases import RunPhase
from server.errors import Invalid
from server.schemas import RunSortField, SortOrder
from server.store import RUN_LINKS, RunLink, ServerStore


@dataclass(frozen=True)
class RunQuery:
    """The runs-list endpoint's query, already parsed (page numbers start at 1)."""

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
    """A listed run: the engine's listing columns and the server's links."""

    run: RunSummaryRecord
    links: RunLink


# The API's field names for the store's filter fields, so a refused filter names what the
# caller actually sent.
_API_FIELD = {"offset": "page", "limit": "page_size", "phases": "phase", "name_contains": "name"}


def _linked_ids(q: RunQuery) -> RunIds | None:
    """Runs in the experiment and/or from the pipeline, as a SELECT the store embeds."""
    if q.experiment_id is None and q.pipeline_id is None:
        return None
    stmt = select(RUN_LINKS.c.run_id)
    if q.experiment_id is not None:
        stmt = stmt.where(RUN_LINKS.c.experiment_id == q.experiment_id)
    if q.pipeline_id is not None:
        stmt = stmt.where(RUN_LINKS.c.pipeline_id == q.pipeline_id)
    return stmt


def run_filter(q: RunQuery) -> RunFilter:
    """The store's filter for `q`; a value the store refuses becomes a 422 naming the API field."""
    if q.page < 1:
        raise Invalid(f"page {q.page} is before the first page; pages start at 1", field="page")
    try:
        return RunFilter(
            namespaces=None if q.namespace is None else [q.namespace],
            phases=tuple(q.phases),
            name_contains=q.name_contains or None,
            created_after=q.created_after,
            created_before=q.created_before,
            run_ids=_linked_ids(q),
            sort=RunSortKey(q.sort.value),
            order=StoreOrder(q.order.value),
            offset=(q.page - 1) * q.page_size,
            limit=q.page_size,
        )
    except RunFilterError as exc:
        field = _API_FIELD.get(exc.field, exc.field)
        raise Invalid(str(exc).replace(f"RunFilter.{exc.field}", field), field=field) from None


def list_runs(
    metadata: MetadataStore, store: ServerStore, q: RunQuery
) -> tuple[list[RunRowSummary], int]:
    """One page of runs, each with its server links, and the number matching the filter."""
    page = metadata.page_runs(run_filter(q))
    links = store.run_links([r.id for r in page.runs])
    out = [RunRowSummary(r, links.get(r.id) or RunLink(r.id)) for r in page.runs]
    return out, page.total
