"""Runs: create (from a pipeline version or inline YAML), list a page at a time, get in the shape
of `kubepipe get -o json`, the live graph, one node's detail, stop, retry, delete."""

from __future__ import annotations

import json
import os
import signal
import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, status
from fastapi.concurrency import run_in_threadpool

from engine.errors import KubepipeError
from engine.phases import RunPhase
from engine.state import RunRecord
from engine.views import iso, node_json, run_json
from server.auth import Principal, editor, principal
from server.context import Services, services
from server.convert import run_summary
from server.errors import Conflict, Invalid, NotFound
from server.graph import run_graph
from server.lookups import visible_experiment, visible_run
from server.runs_index import RunQuery, list_runs
from server.schemas import (
    Graph,
    RunCreate,
    RunCreated,
    RunList,
    RunSortField,
    SortOrder,
    TrialsOut,
)
from server.sources import resolve_source
from server.store import RunLink
from server.submit import prepare, submit
from server.trials import experiment_trials

router = APIRouter(prefix="/api/v1/runs", tags=["runs"])


def _created(run: RunRecord) -> RunCreated:
    """The run's id, name, namespace and phase: what create, stop and retry answer."""
    return RunCreated(id=run.id, name=run.name, namespace=run.namespace, phase=run.phase)


def _timestamp(value: str | None, field: str) -> float | None:
    """Unix seconds or ISO-8601 (a `Z` suffix is UTC)."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise Invalid(
            f"{value!r} is neither Unix seconds nor an ISO-8601 time (2025-01-31T09:00:00Z)",
            field=field,
        ) from None


@router.post("", status_code=status.HTTP_201_CREATED, response_model=RunCreated)
def create_run(
    body: RunCreate, who: Principal = Depends(editor), svc: Services = Depends(services)
) -> RunCreated:
    """Queue a run; the engine workers (`kubepipe engine`, `kubepipe up`) execute it."""
    source = resolve_source(
        svc,
        who,
        pipeline_id=body.pipeline_id,
        pipeline_version_id=body.pipeline_version_id,
        pipeline_yaml=body.pipeline_yaml,
        namespace=body.namespace,
    )
    namespace = source.namespace
    if body.experiment_id is not None:
        experiment = visible_experiment(svc, who, body.experiment_id)
        if experiment.namespace != namespace:
            raise Invalid(
                f"experiment {experiment.id} is in namespace {experiment.namespace!r}, the run "
                f"would be in {namespace!r}",
                field="experiment_id",
            )
    workflow = prepare(source.manifest, body.parameters, namespace, source.label, name=body.name)
    run = submit(svc, workflow, source.label)
    svc.store.link_run(
        RunLink(run.id, body.experiment_id, source.pipeline_id, source.pipeline_version_id)
    )
    return _created(run)


@router.get("", response_model=RunList)
def list_all(
    page: int = Query(default=1, ge=1, le=1_000_000),
    page_size: int = Query(default=50, ge=1),
    phase: list[RunPhase] = Query(default=[]),
    experiment_id: str | None = None,
    pipeline_id: str | None = None,
    created_after: str | None = None,
    created_before: str | None = None,
    name: str | None = Query(default=None, max_length=200),
    sort: RunSortField = RunSortField.CREATED_AT,
    order: SortOrder = SortOrder.DESC,
    namespace: str | None = None,
    who: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> RunList:
    """A page of runs (newest first by default), filtered by phase, experiment, pipeline, time."""
    if page_size > svc.settings.max_page_size:
        raise Invalid(
            f"page_size {page_size} is above the server's maximum of {svc.settings.max_page_size}",
            field="page_size",
        )
    query = RunQuery(
        namespace=who.visible_namespace(namespace),
        phases=phase,
        experiment_id=experiment_id,
        pipeline_id=pipeline_id,
        created_after=_timestamp(created_after, "created_after"),
        created_before=_timestamp(created_before, "created_before"),
        name_contains=name,
        sort=sort,
        order=order,
        page=page,
        page_size=page_size,
    )
    rows, total = list_runs(svc.metadata, svc.store, query)
    more = page * page_size < total
    return RunList(
        runs=[run_summary(r) for r in rows],
        total_size=total,
        page=page,
        page_size=page_size,
        next_page=page + 1 if more else None,
    )


@router.get("/{run_id}")
def get_run(
    run_id: str, who: Principal = Depends(principal), svc: Services = Depends(services)
) -> dict[str, Any]:
    """The run exactly as `kubepipe get RUN -o json` prints it, plus where it came from."""
    run = visible_run(svc, who, run_id)
    body = run_json(svc.metadata.load_state(run.id))
    link = svc.store.run_link(run.id)
    body.update(
        namespace=run.namespace,
        experimentId=link.experiment_id,
        pipelineId=link.pipeline_id,
        pipelineVersionId=link.pipeline_version_id,
        retryOf=link.retry_of,
        createdAt=iso(run.created_at),
        stopRequested=run.stop_requested,
    )
    return body


@router.get("/{run_id}/graph", response_model=Graph)
def get_run_graph(
    run_id: str, who: Principal = Depends(principal), svc: Services = Depends(services)
) -> Graph:
    """The run's nodes and dependency edges, laid out; the dashboard polls this."""
    run = visible_run(svc, who, run_id)
    return run_graph(svc.metadata.load_state(run.id))


def _metrics(outputs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`Metrics` artifacts' values: the DSL passes an artifact's metadata as the JSON output
    parameter `<artifact>-metadata`; scalar entries are the logged metrics."""
    found: dict[str, dict[str, Any]] = {}
    params = outputs.get("parameters") or {}
    for artifact in outputs.get("artifacts") or {}:
        raw = params.get(f"{artifact}-metadata")
        try:
            meta = json.loads(raw) if isinstance(raw, str) else None
        except ValueError:
            continue
        if isinstance(meta, dict):
            scalars = {
                k: v
                for k, v in meta.items()
                if isinstance(v, (int, float, str, bool)) and k != "framework"
            }
            if scalars:
                found[artifact] = scalars
    return found


@router.get("/{run_id}/nodes/{node_id}")
def get_node(
    run_id: str,
    node_id: str,
    who: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """One node as in `get -o json`, plus its inputs, metrics and phase history (attempts)."""
    run = visible_run(svc, who, run_id)
    state = svc.metadata.load_state(run.id)
    node = state.nodes.get(node_id)
    if node is None:
        raise NotFound(f"run {run.id} has no node {node_id!r}", field="node_id")
    body = node_json(node)
    body["inputs"] = node.inputs or {}
    body["attempt"] = node.attempt
    body["metrics"] = _metrics(node.outputs or {})
    body["events"] = [
        {
            "from": e.from_phase.value if e.from_phase else None,
            "to": e.to_phase.value,
            "reason": e.reason,
            "at": iso(e.at),
        }
        for e in svc.metadata.node_events(run.id)
        if e.node_id == node.id
    ]
    return body


@router.get("/{run_id}/nodes/{node_id}/trials", response_model=TrialsOut)
def get_trials(
    run_id: str,
    node_id: str,
    who: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> TrialsOut:
    """A Katib experiment step's trials (the dashboard's trials table and plots), 404 for a node
    that is not an experiment."""
    run = visible_run(svc, who, run_id)
    return experiment_trials(svc.metadata.load_state(run.id), node_id)


@router.post("/{run_id}/stop", status_code=status.HTTP_202_ACCEPTED, response_model=RunCreated)
def stop_run(
    run_id: str, who: Principal = Depends(editor), svc: Services = Depends(services)
) -> RunCreated:
    """Ask the engine executing the run to stop it (running steps are killed and Failed, exit
    handlers still run). A queued run no engine has claimed yet is finished here directly."""
    run = visible_run(svc, who, run_id)
    if run.phase.is_finished:
        raise Conflict(f"run {run.id} already {run.phase.value}", field="run_id")
    reason = "Stopped by user"
    svc.metadata.request_stop(run.id, reason)
    if run.owner is None:
        _stop_unclaimed(svc, run.id, reason)
    return _created(svc.metadata.resolve_run(run.id))


def _stop_unclaimed(svc: Services, run_id: str, reason: str) -> None:
    """Claim the queued run (compare-and-set, so no worker starts it meanwhile) and fail it."""
    from engine.executor import stop_without_engine

    owner = f"kubepipe-server:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    if not svc.metadata.claim_run(run_id, owner, svc.settings.engine.lease_seconds):
        return  # a worker got it first; it sees the stop request on its next look

    def kill(handle: dict[str, Any]) -> None:
        pid = int(handle.get("pid") or 0)
        if pid > 0:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    stop_without_engine(svc.metadata, kill, run_id, reason + " before an engine started it")


@router.post("/{run_id}/retry", response_model=RunCreated)
def retry_run(
    run_id: str, who: Principal = Depends(editor), svc: Services = Depends(services)
) -> RunCreated:
    """Run the failed steps of a Failed/Error run again, in place, keeping what succeeded (as
    `argo retry` and `kubepipe retry` do); the run is queued for an engine worker."""
    from engine.retry import retry_run as retry_in_place

    run = visible_run(svc, who, run_id)
    if not run.phase.is_finished or run.phase is RunPhase.SUCCEEDED:
        raise Conflict(
            f"run {run.id} is {run.phase.value}; only a Failed or Error run can be retried",
            field="run_id",
        )
    try:
        queued = retry_in_place(svc.metadata, svc.artifacts, svc.settings.engine.work_root, run.id)
    except KubepipeError as exc:  # another retry of the same run won the race
        raise Conflict(str(exc), field="run_id") from None
    return _created(queued)


@router.delete("/{run_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_run(
    run_id: str, who: Principal = Depends(editor), svc: Services = Depends(services)
) -> None:
    """A finished run with its nodes, logs and artifacts (artifacts other runs reuse are kept)."""
    from engine.retention import delete_run as delete_finished

    run = visible_run(svc, who, run_id)
    if not run.phase.is_finished:
        raise Conflict(f"run {run.id} is {run.phase.value}; stop it first", field="run_id")
    try:
        await run_in_threadpool(delete_finished, svc.metadata, svc.artifacts, run.id)
    except KubepipeError as exc:
        raise Conflict(str(exc), field="run_id") from None
    svc.store.unlink_run(run.id)
