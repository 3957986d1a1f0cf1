"""Building a `RecurringRunSpec` from what a person gives: a pipeline file plus flags, or an Argo
CronWorkflow manifest (whose `spec` carries the schedule itself; flags given override it).

Everything is checked here, before anything is stored: the pipeline file loads and validates,
the cron expression, time zone, window and interval are sound. Errors are `InvalidSchedule`
(naming the field) or the engine's `SpecError` (naming the file and place).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from engine.spec import ConcurrencyPolicy, CronWorkflow
from scheduler.errors import InvalidSchedule
from scheduler.spec import DEFAULT_NAMESPACE, RecurringRunSpec
from scheduler.triggers import CronTrigger, PeriodicTrigger, check_timezone, parse_interval


@dataclass
class Options:
    """The CLI's flags; None means "not given" (a CronWorkflow's own value, else the default)."""

    cron: str | None = None
    every: str | None = None
    timezone: str | None = None
    start: str | None = None
    end: str | None = None
    max_concurrency: int | None = None
    concurrency_policy: str | None = None
    catchup: bool | None = None
    starting_deadline_seconds: int | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    namespace: str | None = None


@dataclass(frozen=True)
class Definition:
    spec: RecurringRunSpec
    enabled: bool
    notes: list[str]  # fields kept but not applied, for the person to see


def parse_timestamp(text: str, field_name: str, zone: str) -> datetime:
    """ISO-8601; a timestamp without a UTC offset is read in the schedule's time zone."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidSchedule(
            field_name,
            f"{text!r} is not an ISO-8601 timestamp",
            "write it as 2025-01-31T09:00:00+01:00 (or 2025-01-31T08:00:00Z)",
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=ZoneInfo(zone))


def _pipeline_exists(file: str) -> None:
    path = file.partition(":")[0] if not Path(file).is_file() else file
    if not Path(path).is_file():
        raise InvalidSchedule(
            "file",
            f"{file} does not exist",
            "give the path of a Workflow or CronWorkflow YAML file, or a Python pipeline (.py)",
        )


def load_definition(name: str | None, file: str, options: Options) -> Definition:
    from engine.cli import load_and_validate  # the one loader for YAML and .py pipelines
    from engine.loader import load_manifest

    _pipeline_exists(file)
    cron_spec = None
    cron_meta: dict[str, Any] = {}
    if not file.partition(":")[0].endswith(".py"):
        manifest, _, _ = load_manifest(Path(file))
        if isinstance(manifest, CronWorkflow):
            cron_spec = manifest.spec
            cron_meta = {"name": manifest.metadata.name}
    workflow, source = load_and_validate(file, options.parameters)
    notes: list[str] = []
    manifest_dict = workflow.dump()
    _place(manifest_dict, options.namespace, file)

    schedules: list[str] = []
    zone = options.timezone
    policy = options.concurrency_policy
    deadline = options.starting_deadline_seconds
    catchup = options.catchup
    enabled = True
    ok_limit = failed_limit = None
    if cron_spec is not None:
        schedules = list(cron_spec.schedules) or (
            [cron_spec.schedule] if cron_spec.schedule else []
        )
        zone = zone or cron_spec.timezone
        if policy is None and cron_spec.concurrency_policy is not None:
            policy = cron_spec.concurrency_policy.value
        if deadline is None:
            deadline = cron_spec.starting_deadline_seconds
        if catchup is None:
            catchup = False  # Argo starts only the latest missed time
        enabled = not cron_spec.suspend
        ok_limit = cron_spec.successful_jobs_history_limit
        failed_limit = cron_spec.failed_jobs_history_limit
        extra = cron_spec.workflow_metadata or {}
        meta = manifest_dict.setdefault("metadata", {})
        for key in ("labels", "annotations"):
            if extra.get(key):
                meta[key] = {**(meta.get(key) or {}), **extra[key]}
        for what in ("when", "stop_strategy"):
            if getattr(cron_spec, what):
                argo = "stopStrategy" if what == "stop_strategy" else what
                notes.append(f"spec.{argo} is kept but not applied by kubepipe's scheduler")

    zone = check_timezone(zone or "UTC")
    window: dict[str, Any] = {"timezone": zone}
    if options.start:
        window["start_time"] = parse_timestamp(options.start, "start_time", zone)
    if options.end:
        window["end_time"] = parse_timestamp(options.end, "end_time", zone)
    trigger: CronTrigger | PeriodicTrigger
    if options.cron is not None and options.every is not None:
        raise InvalidSchedule("trigger", "give either a cron expression or an interval, not both")
    if options.every is not None:
        trigger = PeriodicTrigger(interval_seconds=parse_interval(options.every), **window)
    elif options.cron is not None or schedules:
        exprs = [options.cron] if options.cron is not None else schedules
        trigger = CronTrigger(expressions=exprs, **window)
    else:
        raise InvalidSchedule(
            "trigger",
            f"{file} has no schedule",
            "give --cron EXPR or --every INTERVAL (or use a CronWorkflow with spec.schedules)",
        )
    try:
        policy_value = ConcurrencyPolicy(policy or ConcurrencyPolicy.ALLOW.value)
    except ValueError:
        raise InvalidSchedule(
            "concurrency_policy", f"{policy!r} is not a policy", "use Allow, Forbid or Replace"
        ) from None
    final_name = name or cron_meta.get("name")
    if not final_name:
        raise InvalidSchedule("name", "no name given", "give NAME (or metadata.name in the file)")
    spec = RecurringRunSpec(
        name=final_name,
        source=source,
        workflow=manifest_dict,
        parameters=options.parameters,
        trigger=trigger,
        concurrency_policy=policy_value,
        max_concurrency=options.max_concurrency,
        catchup=True if catchup is None else catchup,
        starting_deadline_seconds=deadline,
        successful_history_limit=ok_limit,
        failed_history_limit=failed_limit,
    )
    return Definition(spec, enabled, notes)


def _place(manifest: dict[str, Any], namespace: str | None, file: str) -> None:
    """Put the workflow (and so the recurring run and its runs) in `namespace`, or the file's own
    metadata.namespace, else the default; a flag that contradicts the file is refused, as
    `kubectl apply -n` refuses a manifest naming another namespace."""
    meta = manifest.setdefault("metadata", {})
    own = meta.get("namespace")
    from engine.validate import NAMESPACE_NAME, NAMESPACE_RULE

    if namespace is not None and not NAMESPACE_NAME.match(namespace):
        raise InvalidSchedule(
            "namespace", f"{namespace!r} is not a namespace name", f"use {NAMESPACE_RULE}"
        )
    if namespace is not None and own and own != namespace:
        raise InvalidSchedule(
            "namespace",
            f"{file} says metadata.namespace {own!r}, not {namespace!r}",
            "drop --namespace, or change the file's metadata.namespace",
        )
    meta["namespace"] = namespace or own or DEFAULT_NAMESPACE


def initial_cursor(spec: RecurringRunSpec, now: float) -> int:
    """Where a new recurring run starts deciding: now, or (catch-up with a start time in the
    past) just before the start, so the times since the start are run as KFP backfills them."""
    start = spec.trigger.start
    if spec.catchup and start is not None and start <= now:
        return start - 1
    return int(now)
