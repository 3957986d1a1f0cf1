"""Triggers: when a recurring run is due. Pure maths over whole Unix seconds, no I/O.

A trigger answers two questions, `next_after(t)` (the first fire time strictly after `t`) and
`latest_at_or_before(t)`; the scheduler needs nothing else, and because both are pure functions
of the stored trigger, a restarted scheduler computes exactly the times the old one would have.

Daylight-saving time (documented behaviour, tested in tests/unit/scheduler):
- cron fields match local wall-clock time in `timezone` (IANA, default UTC);
- a local time that a spring-forward change skips fires once, at the first valid instant after
  the gap (`30 2 * * *` in Europe/Berlin on 2024-03-31 fires at 03:00 CEST), as croniter does;
- a local time that a fall-back change repeats fires once, at its first occurrence (croniter alone
  fires it twice; the repeat is dropped here), so `30 1 * * *` in New York runs once on the day
  clocks go back, and an hourly schedule runs once per local hour;
- periodic triggers count elapsed seconds and ignore wall clocks entirely.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Annotated, Any, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter  # type: ignore[import-untyped]
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from engine.values import MAX_DURATION_SECONDS, DurationOutOfRange, parse_duration
from scheduler.errors import InvalidSchedule

_FIELDS_5 = [
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31"),
    ("month", "1-12 or JAN-DEC"),
    ("day-of-week", "0-6 or SUN-SAT"),
]
_FIELDS_6 = [("second", "0-59"), *_FIELDS_5]  # KFP's six-field form puts seconds first
# The longest interval accepted is the longest duration (a century): fire times must stay inside
# what `datetime` and a BIGINT column hold (`99999999999999999999d` once overflowed both).
MAX_INTERVAL_SECONDS = MAX_DURATION_SECONDS
# The window a schedule's times live in: from the Unix epoch to a day before the end of year 9999,
# so every time zone can still show the last one. A start or end outside it is refused; a fire
# time past it is "never".
FIRST_TIME = datetime(1970, 1, 1, tzinfo=timezone.utc)
LAST_TIME = datetime(9999, 12, 30, tzinfo=timezone.utc)
_LAST_TS = int(LAST_TIME.timestamp())
_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def check_cron(expression: str) -> str:
    """The expression, stripped, if croniter accepts it and it can ever fire; otherwise
    `InvalidSchedule("cron", ...)` naming the field that is wrong and what it accepts."""
    text = " ".join(expression.split())
    if text.startswith("@"):
        if text not in _MACROS:
            raise InvalidSchedule(
                "cron",
                f"cron expression {expression!r} is not a known macro",
                f"use one of {', '.join(_MACROS)}",
            )
        return text
    fields = text.split(" ") if text else []
    if len(fields) not in (5, 6):
        raise InvalidSchedule(
            "cron",
            f"cron expression {expression!r} has {len(fields)} fields; it needs 5 "
            "(minute hour day-of-month month day-of-week), or 6 with seconds first",
            'for example "0 * * * *" (hourly) or "30 2 * * 1-5" (02:30 on weekdays)',
        )
    six = len(fields) == 6
    names = _FIELDS_6 if six else _FIELDS_5
    for index, (name, allowed) in enumerate(names):
        probe = ["*"] * len(fields)
        probe[index] = fields[index]
        if not croniter.is_valid(" ".join(probe), second_at_beginning=six):
            raise InvalidSchedule(
                "cron",
                f"cron expression {expression!r}: field {index + 1} ({name}) {fields[index]!r} is not valid",
                f"the {name} field takes {allowed}, '*', a list (1,2), a range (1-5) or a step (*/15)",
            )
    if not croniter.is_valid(text, second_at_beginning=six):
        raise InvalidSchedule("cron", f"cron expression {expression!r} is not valid")
    try:
        croniter(text, datetime(2000, 1, 1, tzinfo=timezone.utc), second_at_beginning=six).get_next(
            float
        )
    except CroniterError:
        raise InvalidSchedule(
            "cron",
            f"cron expression {expression!r} never fires (no date matches its day-of-month and month)",
            "check the day-of-month against the month (there is no 31 February)",
        ) from None
    return text


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidSchedule(
            "timezone",
            f"unknown time zone {name!r}",
            "use an IANA name such as UTC, Europe/Berlin or America/New_York",
        ) from None
    return name


def _is_repeat(ts: int, zone: ZoneInfo) -> bool:
    """Whether `ts` is the second occurrence of a local time a fall-back change repeats."""
    local = datetime.fromtimestamp(ts, zone)
    return local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset()


class _Window(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    timezone: str = "UTC"
    start_time: datetime | None = None
    end_time: datetime | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_timezone(value)

    @field_validator("start_time", "end_time")
    @classmethod
    def _aware(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise InvalidSchedule(
                str(info.field_name),
                f"{value.isoformat()} has no UTC offset",
                "write it as 2025-01-01T00:00:00+01:00 (or ...Z for UTC)",
            )
        if value is not None and not FIRST_TIME <= value <= LAST_TIME:
            raise InvalidSchedule(
                str(info.field_name),
                f"{value.isoformat()} is outside the times a schedule can use",
                f"give a time from {FIRST_TIME.date()} to {LAST_TIME.date()}",
            )
        return value

    @model_validator(mode="after")
    def _ordered(self) -> _Window:
        if self.start_time and self.end_time and self.end_time <= self.start_time:
            raise InvalidSchedule(
                "end_time",
                f"{self.end_time.isoformat()} is not after the start {self.start_time.isoformat()}",
                "give an end later than the start, or no end",
            )
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def start(self) -> int | None:
        return None if self.start_time is None else math.ceil(self.start_time.timestamp())

    @property
    def end(self) -> int:
        """The last second a fire may fall on (the window's end when no end time is given)."""
        return _LAST_TS if self.end_time is None else math.floor(self.end_time.timestamp())


class CronTrigger(_Window):
    """One or more cron expressions (Argo's `schedules`); due at any time one of them matches."""

    kind: Literal["cron"] = "cron"
    expressions: list[str] = Field(min_length=1)
    _cursors: dict[str, tuple[int, int, Any]] = PrivateAttr(default_factory=dict)

    @field_validator("expressions")
    @classmethod
    def _valid(cls, value: list[str]) -> list[str]:
        return [check_cron(e) for e in value]

    def describe(self) -> str:
        return f"cron {' | '.join(self.expressions)} ({self.timezone})"

    def _next_for(self, expression: str, after: int) -> int | None:
        # Building a croniter costs 4x more than advancing one, and the loop mostly asks for the
        # time after the one it was just given. So each expression keeps (lo, nxt, iterator):
        # for any `after` in [lo, nxt) the answer is nxt, and after == nxt advances the iterator.
        zone = self.zone
        cached = self._cursors.get(expression)
        if cached is not None and cached[0] <= after < cached[1]:
            return int(cached[1])
        if cached is not None and after == cached[1]:
            it = cached[2]
        else:
            six = len(expression.split(" ")) == 6
            it = croniter(expression, datetime.fromtimestamp(after, zone), second_at_beginning=six)
        try:
            while True:
                ts = int(it.get_next(float))
                if ts > after and not _is_repeat(ts, zone):
                    break
        except (CroniterError, ValueError, OverflowError):  # no match before the year 10000
            self._cursors.pop(expression, None)
            return None
        self._cursors[expression] = (after, ts, it)
        return ts

    def next_after(self, after: int) -> int | None:
        start, end = self.start, self.end
        base = after if start is None else max(after, start - 1)
        times = [t for t in (self._next_for(e, base) for e in self.expressions) if t is not None]
        if not times:
            return None
        best = min(times)
        return None if best > end else best

    def latest_at_or_before(self, at: int) -> int | None:
        at = min(at, self.end)
        # croniter's get_prev jumps back cheaply; stepping two matches back and walking forward
        # with next_after keeps the answer on the very sequence next_after produces.
        anchors = []
        for expression in self.expressions:
            six = len(expression.split(" ")) == 6
            try:
                it = croniter(
                    expression, datetime.fromtimestamp(at + 1, self.zone), second_at_beginning=six
                )
                it.get_prev(float)
                anchors.append(int(it.get_prev(float)) - 1)
            except (CroniterError, ValueError, OverflowError):
                continue
        anchor = max(anchors) if anchors else at
        latest = None
        t = self.next_after(anchor)
        while t is not None and t <= at:
            latest, t = t, self.next_after(t)
        return latest


class PeriodicTrigger(_Window):
    """Every `interval_seconds`, counted from `start_time` (or from the Unix epoch, so `1h`
    fires on the hour): due at start, start + interval, start + 2 * interval, ..."""

    kind: Literal["periodic"] = "periodic"
    interval_seconds: int

    @field_validator("interval_seconds")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value <= 0:
            raise InvalidSchedule(
                "interval", f"{value} is not a positive number of seconds", "use at least 1s"
            )
        return value

    def describe(self) -> str:
        return f"every {format_interval(self.interval_seconds)}"

    def next_after(self, after: int) -> int | None:
        anchor = self.start or 0
        step = self.interval_seconds
        t = anchor if after < anchor else anchor + ((after - anchor) // step + 1) * step
        return None if t > self.end else t

    def latest_at_or_before(self, at: int) -> int | None:
        anchor = self.start or 0
        at = min(at, self.end)
        if at < anchor:
            return None
        return anchor + ((at - anchor) // self.interval_seconds) * self.interval_seconds


Trigger = Annotated[Union[CronTrigger, PeriodicTrigger], Field(discriminator="kind")]


def format_interval(seconds: int) -> str:
    """`5400` -> `1h30m`: the form people type."""
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(out) or "0s"


def parse_interval(text: str) -> int:
    """Whole seconds from `90`, `1h30m` or `1d`, from 1s to MAX_INTERVAL_SECONDS;
    `InvalidSchedule("interval", ...)` otherwise. The CLI's `--every` and the API's `interval`
    both come here, and the range check is the engine's duration parser's, so no interval can be
    stored that overflows later."""
    shown = text if len(text) <= 40 else text[:37] + "..."
    longest = format_interval(MAX_INTERVAL_SECONDS)
    try:
        seconds = parse_duration(text.strip(), field="interval")
    except DurationOutOfRange:
        raise InvalidSchedule(
            "interval",
            f"{shown!r} is out of range: an interval is 1s to {longest} (100 years)",
            "use a shorter interval, or a cron expression for rare dates",
        ) from None
    except ValueError:
        raise InvalidSchedule(
            "interval",
            f"{shown!r} is not a duration",
            "use seconds (3600) or a duration such as 1h30m, 15m or 1d",
        ) from None
    if seconds is None or seconds <= 0:
        raise InvalidSchedule(
            "interval", f"{shown!r} is not a positive interval", "use at least 1s, e.g. 15m"
        )
    if seconds != int(seconds):
        raise InvalidSchedule("interval", f"{shown!r} is not whole seconds", "round it, e.g. 2s")
    return int(seconds)
