"""Property: for random cron expressions, time zones and windows, the runs the scheduler creates
on a fake clock, with a restart at a random moment, are exactly croniter's sequence: strictly
increasing, none twice.

"croniter's sequence" is one uninterrupted croniter iteration over the window in the schedule's
zone, minus the second occurrence of a local time repeated by a fall-back change (the documented
rule in scheduler.triggers: a repeated local time fires once). The scheduler itself builds fresh
iterators after the restart, so this also checks that restarting never shifts the sequence.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from croniter import croniter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sched_support import create, scheduler, spec

from engine.metadata.store import MetadataStore
from scheduler.clock import FakeClock
from scheduler.store import RecurringStore

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "America/St_Johns",  # a -03:30 offset
    "Asia/Kolkata",
    "Pacific/Chatham",
]
# Around the 2024 DST changes of those zones, plus ordinary days.
ANCHORS = [
    datetime(2024, 3, 9, tzinfo=timezone.utc),
    datetime(2024, 3, 30, tzinfo=timezone.utc),
    datetime(2024, 4, 6, tzinfo=timezone.utc),
    datetime(2024, 9, 28, tzinfo=timezone.utc),
    datetime(2024, 10, 5, tzinfo=timezone.utc),
    datetime(2024, 10, 26, tzinfo=timezone.utc),
    datetime(2024, 11, 2, tzinfo=timezone.utc),
    datetime(2024, 6, 15, tzinfo=timezone.utc),
    datetime(2024, 12, 31, tzinfo=timezone.utc),
]

minute = st.one_of(
    st.integers(0, 59).map(str),
    st.lists(st.integers(0, 59), min_size=2, max_size=3, unique=True).map(
        lambda xs: ",".join(map(str, sorted(xs)))
    ),
    st.sampled_from(["*/10", "*/15", "*/20", "*/30", "5-25/10"]),
)
hour = st.one_of(
    st.just("*"),
    st.integers(0, 23).map(str),
    st.sampled_from(["*/2", "*/3", "1-4", "0-3", "2,3", "9-17", "22-23,0-2"]),
)
dom = st.one_of(st.just("*"), st.just("*"), st.integers(1, 28).map(str), st.just("1,15"))
month = st.one_of(st.just("*"), st.just("*"), st.sampled_from(["3", "10,11", "1-6"]))
dow = st.one_of(st.just("*"), st.just("*"), st.sampled_from(["1-5", "0", "6", "SAT,SUN"]))
expressions = st.tuples(minute, hour, dom, month, dow).map(" ".join)


def _reference(expression: str, zone: str, start: int, end: int) -> list[int]:
    tz = ZoneInfo(zone)
    it = croniter(expression, datetime.fromtimestamp(start - 1, tz))
    out = []
    while True:
        t = int(it.get_next(float))
        if t > end:
            return out
        local = datetime.fromtimestamp(t, tz)
        if local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset():
            continue  # the repeat of a fall-back hour
        out.append(t)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    expression=expressions,
    zone=st.sampled_from(ZONES),
    anchor=st.sampled_from(ANCHORS),
    offset_minutes=st.integers(0, 48 * 60),
    length_hours=st.integers(1, 60),
    restart_fraction=st.floats(0.0, 1.0),
)
def test_fires_equal_croniter_across_a_restart(
    expression: str,
    zone: str,
    anchor: datetime,
    offset_minutes: int,
    length_hours: int,
    restart_fraction: float,
) -> None:
    window_start = anchor + timedelta(minutes=offset_minutes, seconds=17)
    window_end = window_start + timedelta(hours=length_hours)
    start, end = int(window_start.timestamp()), int(window_end.timestamp())
    restart = start + int((end - start) * restart_fraction)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'kp.db'}"
        store, metadata = RecurringStore(url), MetadataStore(url)
        s = spec(
            trigger={
                "kind": "cron",
                "expressions": [expression],
                "timezone": zone,
                "start_time": window_start.isoformat(),
                "end_time": window_end.isoformat(),
            }
        )
        rec = create(store, s, start)
        clock = FakeClock(start)
        scheduler(store, metadata, clock).run(until=restart)
        store.close()
        # Restart: new store, new scheduler (fresh croniter iterators), same database.
        store = RecurringStore(url)
        clock.advance(0)
        scheduler(store, metadata, clock).run(until=end + 3600)
        fires = [f.scheduled_time for f in store.fires(rec.id)]
        runs = sorted(int(r.name.rsplit("-", 1)[1]) for r in metadata.list_runs(_all()))
        store.close()
        metadata.close()
    expected = _reference(expression, zone, start, end)
    assert fires == expected
    assert runs == expected
    assert all(a < b for a, b in zip(fires, fires[1:]))


def _all():
    from engine.metadata.store import RunFilter

    return RunFilter(limit=100_000)
