"""The scheduler loop on a fake clock, on SQLite and PostgreSQL: catch-up, concurrency policies,
crash recovery, enable/disable, waking on changes, history limits, schema versions."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sched_support import FAST, WORKFLOW, create, finish, scheduler, spec
from sqlalchemy import create_engine, text

from engine.errors import KubepipeError
from engine.executor import SCHEDULED_TIME_ANNOTATION
from engine.metadata.store import MetadataStore
from scheduler.clock import FakeClock
from scheduler.runs import run_id_for
from scheduler.settings import SchedulerSettings
from scheduler.spec import ConcurrencyPolicy, FireState
from scheduler.store import RecurringStore

T0 = int(datetime(2025, 1, 6, 10, 30, tzinfo=timezone.utc).timestamp())  # a Monday, 10:30 UTC
HOUR = 3600


def _runs(metadata: MetadataStore) -> list[str]:
    return sorted(r.name for r in metadata.list_runs())


@pytest.mark.parametrize(("catchup", "expected"), [(True, 3), (False, 1)])
def test_three_hours_down_catch_up_or_latest_only(stores, catchup: bool, expected: int) -> None:
    store, metadata = stores
    rec = create(store, spec(catchup=catchup), T0)
    clock = FakeClock(T0)
    scheduler(store, metadata, clock).run(until=T0)  # up at 10:30: nothing due yet
    assert metadata.count_runs() == 0
    clock.advance(3 * HOUR)  # down from 10:30 to 13:30: 11:00, 12:00, 13:00 were missed
    scheduler(store, metadata, clock).run(until=T0 + 3 * HOUR)
    names = _runs(metadata)
    assert len(names) == expected
    assert names[-1] == f"tick-{T0 + 2 * HOUR + 1800}"  # 13:00 is always started
    assert store.get(rec.id).last_scheduled_time == T0 + 2 * HOUR + 1800


def test_starting_deadline_bounds_catch_up(stores) -> None:
    store, metadata = stores
    create(store, spec(starting_deadline_seconds=int(1.6 * HOUR)), T0)
    clock = FakeClock(T0 + 3 * HOUR)  # 11:00 is older than 1.6 h at 13:30; 12:00 and 13:00 are not
    scheduler(store, metadata, clock).run(until=clock.now())
    assert _runs(metadata) == [f"tick-{T0 + HOUR + 1800}", f"tick-{T0 + 2 * HOUR + 1800}"]


def test_runs_carry_scheduled_time_name_label_and_parameters(stores) -> None:
    store, metadata = stores
    rec = create(store, spec(parameters={"word": "scheduled"}), T0)
    scheduler(store, metadata, FakeClock(T0)).run(until=T0 + HOUR)
    (run,) = metadata.list_runs()
    due = T0 + 1800
    assert run.id == run_id_for(rec.id, due) and run.name == f"tick-{due}"
    meta = run.manifest["metadata"]
    assert meta["annotations"][SCHEDULED_TIME_ANNOTATION] == "2025-01-06T11:00:00Z"
    assert meta["labels"]["workflows.argoproj.io/cron-workflow"] == "tick"
    assert run.parameters == {"word": "scheduled"} and run.owner is None  # queued for workers
    assert run.phase.value == "Pending"


def test_forbid_skips_while_a_run_is_going(stores) -> None:
    store, metadata = stores
    rec = create(store, spec(concurrency_policy=ConcurrencyPolicy.FORBID), T0)
    clock = FakeClock(T0)
    loop = scheduler(store, metadata, clock)
    loop.run(until=T0 + 2 * HOUR)  # 11:00 starts; 12:00 is skipped, 11:00 still going
    fires = store.fires(rec.id)
    assert [f.state for f in fires] == [FireState.CREATED, FireState.SKIPPED]
    assert "still running" in fires[1].reason and metadata.count_runs() == 1
    finish(metadata, fires[0].run_id)
    loop.run(until=T0 + 3 * HOUR)  # 13:00: nothing going any more
    assert [f.state for f in store.fires(rec.id)][-1] is FireState.CREATED
    assert metadata.count_runs() == 2


def test_replace_stops_the_old_run(stores) -> None:
    store, metadata = stores
    rec = create(store, spec(concurrency_policy=ConcurrencyPolicy.REPLACE), T0)
    loop = scheduler(store, metadata, FakeClock(T0))
    loop.run(until=T0 + HOUR)
    old = store.fires(rec.id)[0].run_id
    loop.run(until=T0 + 2 * HOUR)
    new = store.fires(rec.id)[1].run_id
    assert "Replaced by tick-" in (metadata.stop_requested(old) or "")
    assert metadata.stop_requested(new) is None and metadata.count_runs() == 2


def test_max_concurrency_waits_instead_of_skipping(stores) -> None:
    store, metadata = stores
    rec = create(store, spec(max_concurrency=1), T0)
    loop = scheduler(store, metadata, FakeClock(T0))
    loop.run(until=T0 + 3 * HOUR)  # 11:00 starts; 12:00 and 13:00 wait for the slot
    assert metadata.count_runs() == 1
    finish(metadata, store.fires(rec.id)[0].run_id)
    loop.run(until=T0 + 3 * HOUR + 120)  # the slot is free: 12:00 starts (13:00 waits again)
    fires = store.fires(rec.id)
    assert [f.scheduled_time for f in fires] == [T0 + 1800, T0 + HOUR + 1800]
    assert all(f.state is FireState.CREATED for f in fires)


def test_crash_between_decision_and_run_is_completed_once(stores, monkeypatch) -> None:
    """Killed after the fire was recorded but before its run existed, and again after the run
    existed but before the fire was marked: a new scheduler finishes both, creating no twins."""
    store, metadata = stores
    rec = create(store, spec(), T0)
    clock = FakeClock(T0)
    crashing = scheduler(store, metadata, clock)

    def boom(*args, **kwargs):
        raise SystemExit("killed")

    monkeypatch.setattr(crashing.runs, "ensure", boom)
    with pytest.raises(SystemExit):
        crashing.run(until=T0 + HOUR)
    assert [f.state for f in store.fires(rec.id)] == [FireState.PENDING]
    assert metadata.count_runs() == 0
    monkeypatch.undo()

    second = scheduler(store, metadata, clock)
    monkeypatch.setattr(second.store, "mark_created", boom)
    with pytest.raises(SystemExit):
        second.run(until=T0 + HOUR)  # recovers 11:00: the run is created, then "killed"
    monkeypatch.undo()
    assert metadata.count_runs() == 1

    scheduler(RecurringStore(store.url), metadata, clock).run(until=T0 + 2 * HOUR)
    fires = store.fires(rec.id)
    assert [f.state for f in fires] == [FireState.CREATED, FireState.CREATED]
    assert _runs(metadata) == [f"tick-{T0 + 1800}", f"tick-{T0 + HOUR + 1800}"]


def test_disabled_time_is_not_caught_up(stores) -> None:
    store, metadata = stores
    rec = create(store, spec(), T0)
    clock = FakeClock(T0)
    store.set_enabled(rec.id, False, clock.now())
    clock.advance(5 * HOUR)
    scheduler(store, metadata, clock).run(until=clock.now())
    assert metadata.count_runs() == 0
    store.set_enabled(rec.id, True, clock.now())
    scheduler(store, metadata, clock).run(until=clock.now() + HOUR)
    assert _runs(metadata) == [f"tick-{T0 + 5 * HOUR + 1800}"]


class _EditingClock(FakeClock):
    """A fake clock that, once, creates a schedule while the loop sleeps."""

    def __init__(self, start: float, at: float, action) -> None:
        super().__init__(start)
        self.at, self.action, self.sleeps = at, action, []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        super().sleep(seconds)
        if self.action is not None and self.time >= self.at:
            self.action()
            self.action = None


def test_loop_sleeps_until_due_and_wakes_on_a_new_schedule(stores) -> None:
    store, metadata = stores
    create(store, spec("daily", trigger={"kind": "cron", "expressions": ["0 6 * * *"]}), T0)
    other = RecurringStore(store.url)  # another process's view of the same database
    clock = _EditingClock(
        T0,
        T0 + 600,
        lambda: create(
            other, spec("soon", trigger={"kind": "periodic", "interval_seconds": 60}), T0 + 600
        ),
    )
    settings = SchedulerSettings(wake_interval=30, housekeeping_interval=3600)
    scheduler(store, metadata, clock, settings).run(until=T0 + 1200)
    soon = [r for r in metadata.list_runs() if r.name.startswith("soon-")]
    first = min(int(r.name.split("-")[1]) for r in soon)
    assert first == T0 + 660 and len(soon) == 10  # noticed within one wake interval
    # No hot polling: 20 minutes of loop are ~40 change-counter looks and 10 fires, not thousands.
    assert len(clock.sleeps) < 80


def test_history_limits_delete_old_finished_runs(stores) -> None:
    store, metadata = stores
    rec = create(store, spec(successful_history_limit=2, failed_history_limit=1), T0)
    deleted: list[str] = []

    def delete_run(run_id: str) -> None:
        deleted.append(run_id)
        metadata.delete_run(run_id)

    loop = scheduler(store, metadata, FakeClock(T0), delete_run=delete_run)
    loop.run(until=T0 + 5 * HOUR)
    fires = store.fires(rec.id)
    for i, fire in enumerate(fires):
        finish(metadata, fire.run_id, phase=_phase(i))
    assert loop.apply_history_limits() == 2
    kept = {r.id for r in metadata.list_runs()}
    # 5 runs: succeeded 0,2,4 and failed 1,3 -> keep the newest 2 succeeded and newest failed.
    assert kept == {fires[i].run_id for i in (2, 3, 4)}
    assert loop.apply_history_limits() == 0  # idempotent


def _phase(i: int):
    from engine.phases import RunPhase

    return RunPhase.SUCCEEDED if i % 2 == 0 else RunPhase.FAILED


def test_newer_scheduler_schema_is_refused(sqlite_url: str) -> None:
    RecurringStore(sqlite_url).close()
    engine = create_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(text("update kubepipe_scheduler_schema set version = 99"))
    engine.dispose()
    with pytest.raises(KubepipeError, match="scheduler schema version 99, newer than this"):
        RecurringStore(sqlite_url)
    MetadataStore(sqlite_url).close()  # the engine's own schema is untouched by the scheduler's


def test_engine_tables_do_not_include_scheduler_tables() -> None:
    from sqlmodel import SQLModel

    assert "recurring_runs" not in SQLModel.metadata.tables
    assert WORKFLOW["kind"] == "Workflow" and FAST.wake_interval > 1e6


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York"])
def test_a_year_of_0230_through_the_loop_fires_once_per_local_day(
    sqlite_url: str, zone: str
) -> None:
    """A whole simulated year on the fake clock, through the database: 365 runs for 2025, one
    per local date, the spring-forward day's at 03:00 and the fall-back day's once."""
    from zoneinfo import ZoneInfo

    store, metadata = RecurringStore(sqlite_url), MetadataStore(sqlite_url)
    tz = ZoneInfo(zone)
    start = int(datetime(2025, 1, 1, tzinfo=tz).timestamp())
    end = int(datetime(2026, 1, 1, tzinfo=tz).timestamp())
    trigger = {"kind": "cron", "expressions": ["30 2 * * *"], "timezone": zone}
    rec = create(store, spec(trigger=trigger), start)
    clock = FakeClock(start)
    scheduler(store, metadata, clock).run(until=end)
    local = [datetime.fromtimestamp(f.scheduled_time, tz) for f in store.fires(rec.id)]
    assert len(local) == 365 == len({d.date() for d in local})
    assert metadata.count_runs() == 365
    odd = {d.date().isoformat(): (d.hour, d.minute) for d in local if (d.hour, d.minute) != (2, 30)}
    spring = "2025-03-30" if zone == "Europe/Berlin" else "2025-03-09"
    assert odd == {spring: (3, 0)}
