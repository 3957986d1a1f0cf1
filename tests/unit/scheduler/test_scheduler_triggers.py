"""Trigger maths: validation messages, periodic arithmetic, and the documented DST behaviour."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from scheduler.errors import InvalidSchedule
from scheduler.triggers import (
    CronTrigger,
    PeriodicTrigger,
    check_cron,
    format_interval,
    parse_interval,
)

UTC = timezone.utc


def ts(*args: int, tz: str = "UTC") -> int:
    return int(datetime(*args, tzinfo=ZoneInfo(tz)).timestamp())


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("61 * * * *", r"field 1 \(minute\) '61' is not valid.*0-59"),
        ("* 24 * * *", r"field 2 \(hour\) '24' is not valid.*0-23"),
        ("* * 32 * *", r"field 3 \(day-of-month\) '32'"),
        ("* * * 13 *", r"field 4 \(month\) '13'.*JAN-DEC"),
        ("* * * * 9", r"field 5 \(day-of-week\) '9'.*SUN-SAT"),
        ("*/0 * * * *", r"field 1 \(minute\) '\*/0'"),
        ("* * * *", r"has 4 fields; it needs 5"),
        ("", r"has 0 fields"),
        ("0 0 31 2 *", r"never fires"),
        ("@fortnightly", r"not a known macro"),
        ("61 0 * * * *", r"field 1 \(second\) '61'"),
    ],
)
def test_bad_cron_names_the_field_and_what_it_takes(expression: str, message: str) -> None:
    with pytest.raises(InvalidSchedule, match=message) as info:
        check_cron(expression)
    assert info.value.field == "cron" and "cron expression" in str(info.value)


def test_good_cron_forms() -> None:
    assert check_cron("  0  *  * * MON-FRI ") == "0 * * * MON-FRI"
    assert check_cron("@hourly") == "@hourly"
    six = CronTrigger(expressions=["30 0 * * * *"])  # KFP: seconds first
    assert six.next_after(ts(2025, 1, 1)) == ts(2025, 1, 1) + 30


def test_bad_zone_interval_and_window() -> None:
    with pytest.raises(InvalidSchedule, match="unknown time zone 'Mars/Base'") as info:
        CronTrigger(expressions=["0 * * * *"], timezone="Mars/Base")
    assert info.value.field == "timezone"
    for text, why in [("0", "not a positive"), ("-5m", "not a"), ("abc", "not a duration")]:
        with pytest.raises(InvalidSchedule, match=why):
            parse_interval(text)
    with pytest.raises(InvalidSchedule, match="not after the start") as info:
        PeriodicTrigger(
            interval_seconds=60,
            start_time=datetime(2025, 2, 1, tzinfo=UTC),
            end_time=datetime(2025, 1, 1, tzinfo=UTC),
        )
    assert info.value.field == "end_time"


def test_intervals_parse_and_print() -> None:
    assert parse_interval("1h30m") == 5400 == parse_interval("5400")
    assert parse_interval("1d") == 86400
    assert format_interval(5400) == "1h30m" and format_interval(86461) == "1d1m1s"


def test_periodic_counts_from_start_and_stops_at_end() -> None:
    start = datetime(2025, 1, 1, 0, 0, 10, tzinfo=UTC)
    p = PeriodicTrigger(
        interval_seconds=90, start_time=start, end_time=start + timedelta(minutes=5)
    )
    s = int(start.timestamp())
    assert p.next_after(0) == s  # due at the start itself
    assert p.next_after(s) == s + 90
    assert p.next_after(s + 89) == s + 90
    assert p.latest_at_or_before(s + 200) == s + 180
    assert p.next_after(s + 270) is None  # s + 360 is past the end
    assert PeriodicTrigger(interval_seconds=3600).next_after(ts(2025, 1, 1, 0, 30)) == ts(
        2025, 1, 1, 1
    )  # no start: counted from the epoch, so 1h fires on the hour


def _sequence(trigger: CronTrigger, start: int, end: int) -> list[int]:
    out, t = [], trigger.next_after(start)
    while t is not None and t <= end:
        out.append(t)
        t = trigger.next_after(t)
    return out


@pytest.mark.parametrize(
    ("zone", "spring", "fall"),
    [
        ("Europe/Berlin", (2024, 3, 31), (2024, 10, 27)),
        ("America/New_York", (2024, 3, 10), (2024, 11, 3)),
    ],
)
def test_dst_daily_0230_fires_once_every_local_day(zone: str, spring: tuple, fall: tuple) -> None:
    """`30 2 * * *` over all of 2024: one fire per local date (366), never two on one date.

    Spring forward (02:30 does not exist): it fires once, at 03:00 local, the first valid instant.
    Fall back (02:30 happens twice in Berlin): it fires once, at the first occurrence.
    """
    trig = CronTrigger(expressions=["30 2 * * *"], timezone=zone)
    tz = ZoneInfo(zone)
    fires = _sequence(trig, ts(2024, 1, 1, tz=zone) - 1, ts(2024, 12, 31, 23, 59, tz=zone))
    local = [datetime.fromtimestamp(f, tz) for f in fires]
    assert len(fires) == 366 and len({d.date() for d in local}) == 366
    assert all(a < b for a, b in zip(fires, fires[1:]))
    by_date = {d.date(): d for d in local}
    jumped = by_date[datetime(*spring).date()]
    assert (jumped.hour, jumped.minute) == (3, 0)
    repeated = by_date[datetime(*fall).date()]
    assert (repeated.hour, repeated.minute, repeated.fold) == (2, 30, 0)
    others = [d for d in local if d.date() not in (jumped.date(),)]
    assert all((d.hour, d.minute) == (2, 30) for d in others)


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York"])
def test_dst_hourly_fires_once_per_local_hour(zone: str) -> None:
    """Across both transitions an hourly schedule fires once per local wall-clock hour: the
    skipped hour is not fired, and the repeated hour fires once (23 and 24 fires those days)."""
    trig = CronTrigger(expressions=["0 * * * *"], timezone=zone)
    tz = ZoneInfo(zone)
    days = {
        "Europe/Berlin": [(2024, 3, 31), (2024, 10, 27)],
        "America/New_York": [(2024, 3, 10), (2024, 11, 3)],
    }
    for (y, m, d), expected in zip(days[zone], (23, 24)):
        start = ts(y, m, d, tz=zone) - 1
        end = int((datetime(y, m, d, tzinfo=tz) + timedelta(days=1)).timestamp()) - 1
        local = [datetime.fromtimestamp(f, tz) for f in _sequence(trig, start, end)]
        assert len(local) == expected
        assert len({(x.hour, x.minute) for x in local}) == expected


def test_latest_at_or_before_is_on_the_next_after_sequence() -> None:
    zone = "Europe/Berlin"
    trig = CronTrigger(expressions=["30 2 * * *"], timezone=zone)
    # 02:45 CET on the fall-back day: the latest fire is the first 02:30 (CEST), not the repeat.
    at = ts(2024, 10, 27, 1, 45)
    assert trig.latest_at_or_before(at) == ts(2024, 10, 27, 0, 30)
    many = CronTrigger(expressions=["*/7 9-17 * * 1-5", "0 3 1 * *"], timezone=zone)
    seq = _sequence(many, ts(2024, 1, 1) - 1, ts(2024, 3, 1))
    for probe in range(ts(2024, 1, 2), ts(2024, 2, 28), 7919):
        expected = max(t for t in seq if t <= probe)
        assert many.latest_at_or_before(probe) == expected
