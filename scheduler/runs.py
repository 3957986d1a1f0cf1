"""The run a fire creates: deterministic id and name, the scheduled time, idempotent creation.

The fire row and the run live in two transactions (the run goes through the engine's
`MetadataStore.create_run`, so `kubepipe engine` workers pick it up like any queued run). What
makes the pair crash-safe is that the run's id is a function of (recurring run, scheduled time):
creating it again after a crash hits the runs table's primary key instead of making a second
run, so "create, then mark the fire Created" can simply be repeated until it succeeds.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timezone
from typing import Any

from sqlalchemy.exc import IntegrityError

from engine.errors import RunNotFound
from engine.executor import SCHEDULED_TIME_ANNOTATION, apply_parameters
from engine.metadata.store import MetadataStore
from engine.phases import RunPhase
from engine.spec import Workflow
from engine.state import RunRecord
from scheduler.spec import RecurringRun

# Argo's cron controller labels its children with the CronWorkflow's name.
RECURRING_RUN_LABEL = "workflows.argoproj.io/cron-workflow"
_UID_NAMESPACE = uuid.UUID("6f1c2f0e-8d5a-4a4e-9a59-6b7a2b1e0c11")


def run_id_for(recurring_id: str, scheduled_time: int) -> str:
    return hashlib.sha256(f"{recurring_id}@{scheduled_time}".encode()).hexdigest()[:12]


def run_name_for(name: str, scheduled_time: int) -> str:
    """`NAME-<unix seconds>`, the name Argo gives a CronWorkflow's child."""
    return f"{name}-{scheduled_time}"


def rfc3339(ts: int) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class RunFactory:
    """Builds and creates the runs of fires, keeping each recurring run's parsed manifest per
    generation (a spec only changes with its generation; parsing it per fire would dominate)."""

    def __init__(self, metadata: MetadataStore) -> None:
        self.metadata = metadata
        self._bases: dict[tuple[str, int], tuple[dict[str, Any], dict[str, Any]]] = {}

    def _base(self, rec: RecurringRun) -> tuple[dict[str, Any], dict[str, Any]]:
        key = (rec.id, rec.generation)
        base = self._bases.get(key)
        if base is None:
            workflow = apply_parameters(
                Workflow.model_validate(rec.spec.workflow), rec.spec.parameters, rec.spec.source
            )
            params = {
                p.name: p.value for p in workflow.spec.arguments.parameters if p.value is not None
            }
            base = self._bases[key] = (workflow.dump(), params)
        return base

    def build(self, rec: RecurringRun, scheduled_time: int, now: float) -> RunRecord:
        """A queued run (no owner) for the fire at `scheduled_time`."""
        manifest, params = self._base(rec)
        name = run_name_for(rec.name, scheduled_time)
        meta = dict(manifest.get("metadata") or {})
        meta.pop("generateName", None)
        meta["name"] = name
        meta["annotations"] = {
            **(meta.get("annotations") or {}),
            SCHEDULED_TIME_ANNOTATION: rfc3339(scheduled_time),
        }
        meta["labels"] = {**(meta.get("labels") or {}), RECURRING_RUN_LABEL: rec.name}
        return RunRecord(
            id=run_id_for(rec.id, scheduled_time),
            name=name,
            uid=str(uuid.uuid5(_UID_NAMESPACE, f"{rec.id}@{scheduled_time}")),
            namespace=rec.namespace,
            phase=RunPhase.PENDING,
            created_at=now,
            manifest={**manifest, "metadata": meta},
            source=rec.spec.source,
            parameters=dict(params),
            owner=None,
            heartbeat_at=None,
        )

    def ensure(self, rec: RecurringRun, scheduled_time: int, now: float) -> tuple[str, bool]:
        """Create the fire's run unless it already exists: (its id, whether this call made it)."""
        run = self.build(rec, scheduled_time, now)
        try:
            self.metadata.create_run(run)
        except IntegrityError as exc:
            try:
                self.metadata.resolve_run(run.id)
            except RunNotFound:
                raise exc from None  # not our run's key that clashed: let it surface
            return run.id, False
        return run.id, True
