"""What a recurring run is (its definition) and what the scheduler records about it.

`RecurringRunSpec` is the desired state a person writes (CLI flags or an Argo CronWorkflow);
`RecurringRun` adds what the scheduler keeps (enabled, cursor, last scheduled time); `Fire` is
one decided (recurring run, scheduled time) pair, which exists at most once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from engine.spec import ConcurrencyPolicy
from scheduler.errors import InvalidSchedule
from scheduler.triggers import Trigger

# What a pipeline writes to receive its run's scheduled time (RFC 3339, UTC, e.g.
# 2025-01-31T09:00:00Z): the Argo global the engine fills from the scheduled-time annotation.
# The DSL's PIPELINE_JOB_SCHEDULED_TIME_UTC_PLACEHOLDER (KFP's name) is this same string.
SCHEDULED_TIME_PLACEHOLDER = "{{workflow.scheduledTime}}"

__all__ = [
    "DEFAULT_NAMESPACE",
    "SCHEDULED_TIME_PLACEHOLDER",
    "ConcurrencyPolicy",
    "Fire",
    "FireState",
    "RecurringRun",
    "RecurringRunSpec",
    "workflow_namespace",
]

DEFAULT_NAMESPACE = "default"


def workflow_namespace(workflow: Mapping[str, Any]) -> str:
    """A recurring run's namespace: its workflow's `metadata.namespace`, where its runs land."""
    meta = workflow.get("metadata")
    namespace = meta.get("namespace") if isinstance(meta, Mapping) else None
    return str(namespace or DEFAULT_NAMESPACE)


# Run names are `NAME-<unix seconds>` (Argo's cron children); 52 leaves room for the suffix
# inside Kubernetes' 63-character label limit, as Argo's own CronWorkflow name limit does.
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,50}[a-z0-9])?$")


class FireState(str, Enum):
    """What became of one scheduled time."""

    PENDING = "Pending"  # decided to run; the run may not exist yet (a crash is resumed from here)
    CREATED = "Created"  # the run exists (and `finished` says whether it is still going)
    SKIPPED = "Skipped"  # decided not to run it (Forbid, Replace); `reason` says why


class RecurringRunSpec(BaseModel):
    """A recurring run as a person defines it."""

    model_config = ConfigDict(extra="forbid")

    name: str
    source: str = ""  # the file the pipeline came from (for people; `workflow` is what runs)
    workflow: dict[str, Any]  # the Workflow manifest, stored as a version when the run is created
    parameters: dict[str, str] = {}
    trigger: Trigger
    concurrency_policy: ConcurrencyPolicy = ConcurrencyPolicy.ALLOW
    max_concurrency: int | None = None  # KFP: at most this many runs going at once (others wait)
    catchup: bool = True  # KFP's no_catchup inverted: after downtime run every missed time
    starting_deadline_seconds: int | None = None  # a due time older than this is not started
    successful_history_limit: int | None = None  # finished runs kept (Argo's *JobsHistoryLimit)
    failed_history_limit: int | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise InvalidSchedule(
                "name",
                f"{value!r} is not a valid recurring run name",
                "use 1-52 lowercase letters, digits and '-', starting and ending with a letter "
                "or digit",
            )
        return value

    @field_validator("max_concurrency")
    @classmethod
    def _concurrency(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise InvalidSchedule("max_concurrency", f"{value} is below 1", "use 1 or more")
        return value

    @field_validator(
        "starting_deadline_seconds", "successful_history_limit", "failed_history_limit"
    )
    @classmethod
    def _not_negative(cls, value: int | None, info: Any) -> int | None:
        if value is not None and value < 0:
            raise InvalidSchedule(str(info.field_name), f"{value} is negative", "use 0 or more")
        return value

    @property
    def namespace(self) -> str:
        return workflow_namespace(self.workflow)


@dataclass(frozen=True)
class RecurringRun:
    """A stored recurring run. Every scheduled time at or before `cursor` has been decided."""

    id: str
    spec: RecurringRunSpec
    enabled: bool
    created_at: float
    updated_at: float
    cursor: int
    last_scheduled_time: int | None
    next_fire_time: int | None
    generation: int  # bumped on every change a person makes; part of the scheduler's CAS

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def namespace(self) -> str:
        return self.spec.namespace


@dataclass(frozen=True)
class Fire:
    recurring_id: str
    scheduled_time: int
    state: FireState
    run_id: str | None
    run_name: str | None
    reason: str
    created_at: float
    finished: bool
