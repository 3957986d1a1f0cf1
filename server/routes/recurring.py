"""Recurring runs over the scheduler's store: create (cron or interval), list, get with its
fires, enable, disable, delete, next fire times, and a preview of the next fire times of a
schedule as a person types it (the dashboard's form).

A recurring run's namespace is its workflow's `metadata.namespace`, so the runs it starts land in
the same namespace and are visible to the same people. Its name is unique in that namespace only:
a name taken elsewhere is free here, and a 409 never tells of another namespace.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Query, status

from scheduler import (
    CronTrigger,
    InvalidSchedule,
    PeriodicTrigger,
    RecurringRun,
    RecurringRunExists,
    RecurringRunSpec,
)
from scheduler.spec import ConcurrencyPolicy
from server.auth import Principal, editor, principal
from server.context import Services, services
from server.errors import Conflict, Invalid, NotFound
from server.schemas import FireTimes, RecurringCreate, RecurringList
from server.sources import resolve_source
from server.submit import prepare

router = APIRouter(prefix="/api/v1/recurring-runs", tags=["recurring runs"])

_FIELDS = {"interval_seconds": "interval", "expressions": "cron"}


def _invalid(exc: InvalidSchedule) -> Invalid:
    field = _FIELDS.get(exc.field, exc.field)
    return Invalid(f"{exc.problem}" + (f" ({exc.fix})" if exc.fix else ""), field=field)


def _trigger(
    cron: str | None,
    interval: str | None,
    timezone: str,
    start_time: str | None = None,
    end_time: str | None = None,
) -> CronTrigger | PeriodicTrigger:
    from scheduler.definitions import parse_timestamp
    from scheduler.triggers import check_timezone, parse_interval

    if (cron is None) == (interval is None):
        raise Invalid("give exactly one of cron or interval", field="cron")
    try:
        zone = check_timezone(timezone)
        window: dict[str, Any] = {"timezone": zone}
        if start_time:
            window["start_time"] = parse_timestamp(start_time, "start_time", zone)
        if end_time:
            window["end_time"] = parse_timestamp(end_time, "end_time", zone)
        if interval is not None:
            return PeriodicTrigger(interval_seconds=parse_interval(interval), **window)
        return CronTrigger(expressions=[cron or ""], **window)
    except InvalidSchedule as exc:
        raise _invalid(exc) from None


def _visible(svc: Services, who: Principal, ref: str) -> RecurringRun:
    rec: RecurringRun | None = svc.recurring().find(ref)
    if rec is None or not who.can_see(rec.namespace):
        raise NotFound(f"no recurring run with id {ref!r}", field="recurring_run_id")
    return rec


def _json(svc: Services, rec: RecurringRun, fires: bool = False) -> dict[str, Any]:
    from scheduler.views import recurring_json

    return recurring_json(rec, svc.recurring().fires(rec.id) if fires else None)


def _next_times(trigger: CronTrigger | PeriodicTrigger, after: int, count: int) -> list[str]:
    from scheduler.views import local_iso

    out: list[str] = []
    t: int | None = after
    for _ in range(count):
        t = trigger.next_after(t) if t is not None else None
        if t is None:
            break
        out.append(local_iso(t, trigger.zone) or "")
    return out


@router.get("/preview", response_model=FireTimes)
def preview(
    cron: str | None = None,
    interval: str | None = None,
    timezone: str = "UTC",
    count: int = Query(default=5, ge=1, le=50),
    _: Principal = Depends(principal),
) -> FireTimes:
    """The next `count` fire times of a schedule that is not stored (the form's live preview)."""
    trigger = _trigger(cron, interval, timezone)
    return FireTimes(
        schedule=trigger.describe(),
        timezone=trigger.timezone,
        times=_next_times(trigger, int(time.time()), count),
    )


@router.post("", status_code=status.HTTP_201_CREATED)
def create_recurring(
    body: RecurringCreate, who: Principal = Depends(editor), svc: Services = Depends(services)
) -> dict[str, Any]:
    """Validated whole (pipeline, parameters, schedule) before anything is stored."""
    from scheduler.definitions import initial_cursor

    source = resolve_source(
        svc,
        who,
        pipeline_id=body.pipeline_id,
        pipeline_version_id=body.pipeline_version_id,
        pipeline_yaml=body.pipeline_yaml,
        namespace=body.namespace,
    )
    workflow = prepare(source.manifest, body.parameters, source.namespace, source.label)
    trigger = _trigger(body.cron, body.interval, body.timezone, body.start_time, body.end_time)
    try:
        spec = RecurringRunSpec(
            name=body.name,
            source=source.label,
            workflow=workflow.dump(),
            parameters=body.parameters,
            trigger=trigger,
            concurrency_policy=ConcurrencyPolicy(body.concurrency_policy.value),
            max_concurrency=body.max_concurrency,
            catchup=body.catchup,
        )
    except InvalidSchedule as exc:
        raise _invalid(exc) from None
    now = time.time()
    try:
        rec = svc.recurring().create(
            spec, enabled=body.enabled, now=now, cursor=initial_cursor(spec, now)
        )
    except RecurringRunExists as exc:
        raise Conflict(str(exc), field="name") from None
    return _json(svc, rec)


@router.get("", response_model=RecurringList)
def list_recurring(
    namespace: str | None = None,
    who: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> RecurringList:
    scope = who.visible_namespace(namespace)
    items = [_json(svc, rec) for rec in svc.recurring().list_all(scope)]
    return RecurringList(recurring_runs=items)


@router.get("/{recurring_id}")
def get_recurring(
    recurring_id: str, who: Principal = Depends(principal), svc: Services = Depends(services)
) -> dict[str, Any]:
    """With the runs it started (or skipped) so far."""
    return _json(svc, _visible(svc, who, recurring_id), fires=True)


@router.get("/{recurring_id}/next", response_model=FireTimes)
def next_fire_times(
    recurring_id: str,
    count: int = Query(default=5, ge=1, le=50),
    who: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> FireTimes:
    rec = _visible(svc, who, recurring_id)
    trigger = rec.spec.trigger
    return FireTimes(
        schedule=trigger.describe(),
        timezone=trigger.timezone,
        times=_next_times(trigger, max(int(time.time()), rec.cursor), count),
    )


@router.post("/{recurring_id}/enable")
def enable(
    recurring_id: str, who: Principal = Depends(editor), svc: Services = Depends(services)
) -> dict[str, Any]:
    """Enabling starts from now: times missed while disabled are not run."""
    rec = _visible(svc, who, recurring_id)
    return _json(svc, svc.recurring().set_enabled(rec.id, True, time.time()))


@router.post("/{recurring_id}/disable")
def disable(
    recurring_id: str, who: Principal = Depends(editor), svc: Services = Depends(services)
) -> dict[str, Any]:
    rec = _visible(svc, who, recurring_id)
    return _json(svc, svc.recurring().set_enabled(rec.id, False, time.time()))


@router.delete("/{recurring_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_recurring(
    recurring_id: str, who: Principal = Depends(editor), svc: Services = Depends(services)
) -> None:
    """The runs it started stay."""
    svc.recurring().delete(_visible(svc, who, recurring_id).id)
