"""Helpers for the scheduler tests: databases (SQLite, and PostgreSQL in a throwaway schema),
a recurring run from a few fields, and a scheduler on a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from engine.metadata.store import MetadataStore
from engine.metadata.testing import postgres_url_or_skip
from engine.phases import RunPhase
from scheduler.clock import FakeClock
from scheduler.definitions import initial_cursor
from scheduler.service import Scheduler
from scheduler.settings import SchedulerSettings
from scheduler.spec import RecurringRun, RecurringRunSpec
from scheduler.store import RecurringStore

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

WORKFLOW: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"generateName": "tick-"},
    "spec": {
        "entrypoint": "main",
        "arguments": {"parameters": [{"name": "word", "value": "hi"}]},
        "templates": [
            {"name": "main", "container": {"image": "busybox", "command": ["echo", "x"]}}
        ],
    },
}

# A fast loop for simulated time: nothing else changes the schedules while it runs.
FAST = SchedulerSettings(wake_interval=1e9, housekeeping_interval=1e9, busy_recheck=60)


def postgres_url() -> Iterator[str]:
    """A URL whose search_path is a fresh schema, dropped afterwards (skips without a server)."""
    yield from postgres_url_or_skip("kps")


def spec(name: str = "tick", **fields: Any) -> RecurringRunSpec:
    trigger = fields.pop("trigger", {"kind": "cron", "expressions": ["0 * * * *"]})
    return RecurringRunSpec(name=name, workflow=WORKFLOW, trigger=trigger, **fields)


def create(store: RecurringStore, s: RecurringRunSpec, now: float) -> RecurringRun:
    return store.create(s, enabled=True, now=now, cursor=initial_cursor(s, now))


def scheduler(
    store: RecurringStore,
    metadata: MetadataStore,
    clock: FakeClock,
    settings: SchedulerSettings = FAST,
    **kwargs: Any,
) -> Scheduler:
    return Scheduler(store, metadata, clock=clock, settings=settings, **kwargs)


def finish(metadata: MetadataStore, run_id: str, phase: RunPhase = RunPhase.SUCCEEDED) -> None:
    """Mark a queued run finished, as an engine would."""
    state = metadata.load_state(run_id)
    state.run.phase = phase
    state.run.finished_at = state.run.created_at
    state.run_dirty = True
    metadata.commit(state)
