"""How a recurring run reads to people and programs (`recurring get/list`, `-o json`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from scheduler.spec import Fire, RecurringRun


def local_iso(ts: float | None, zone: Any) -> str | None:
    """ISO-8601 with the UTC offset, in the schedule's time zone (what people scheduled in)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, zone).isoformat()


def recurring_json(rec: RecurringRun, fires: list[Fire] | None = None) -> dict[str, Any]:
    spec = rec.spec
    zone = spec.trigger.zone
    out: dict[str, Any] = {
        "id": rec.id,
        "namespace": rec.namespace,
        "name": rec.name,
        "enabled": rec.enabled,
        "trigger": spec.trigger.model_dump(mode="json"),
        "schedule": spec.trigger.describe(),
        "concurrencyPolicy": spec.concurrency_policy.value,
        "maxConcurrency": spec.max_concurrency,
        "catchup": spec.catchup,
        "startingDeadlineSeconds": spec.starting_deadline_seconds,
        "successfulJobsHistoryLimit": spec.successful_history_limit,
        "failedJobsHistoryLimit": spec.failed_history_limit,
        "parameters": dict(spec.parameters),
        "source": spec.source,
        "createdAt": local_iso(rec.created_at, zone),
        "updatedAt": local_iso(rec.updated_at, zone),
        "lastScheduledTime": local_iso(rec.last_scheduled_time, zone),
        "nextFireTime": local_iso(rec.next_fire_time, zone) if rec.enabled else None,
    }
    if fires is not None:
        out["runs"] = [
            {
                "scheduledTime": local_iso(f.scheduled_time, zone),
                "state": f.state.value,
                "runId": f.run_id,
                "runName": f.run_name,
                "reason": f.reason,
            }
            for f in fires
        ]
    return out


def recurring_lines(rec: RecurringRun, fires: list[Fire]) -> list[str]:
    data = recurring_json(rec, fires)
    lines = [
        f"Name:         {rec.name}",
        f"Namespace:    {rec.namespace}",
        f"ID:           {rec.id}",
        f"Enabled:      {'yes' if rec.enabled else 'no'}",
        f"Schedule:     {data['schedule']}",
        f"Concurrency:  {data['concurrencyPolicy']}"
        + (f", at most {rec.spec.max_concurrency}" if rec.spec.max_concurrency else ""),
        f"Catch-up:     {'every missed time' if rec.spec.catchup else 'latest missed time only'}"
        + (
            f" within {rec.spec.starting_deadline_seconds}s"
            if rec.spec.starting_deadline_seconds is not None
            else ""
        ),
        f"Source:       {rec.spec.source}",
        f"Last fired:   {data['lastScheduledTime'] or '-'}",
        f"Next fire:    {data['nextFireTime'] or '-'}",
    ]
    if rec.spec.parameters:
        lines.append("Parameters:")
        lines += [f"  {k}: {v}" for k, v in rec.spec.parameters.items()]
    if fires:
        lines.append("Runs:")
        for run in data["runs"][-20:]:
            what = run["runName"] if run["state"] != "Skipped" else f"skipped: {run['reason']}"
            lines.append(f"  {run['scheduledTime']}  {run['state']:<8} {what}")
    return lines
