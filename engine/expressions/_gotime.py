"""Go's time conventions, which Argo expressions expose: reference layouts and durations.

`sprig.date('2006', ...)` and `date(s, '2006-01-02')` use Go's reference-time layouts, and
durations print as `1h2m3.5s`. Users copy these from Go docs, so we accept them as written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

_MONTHS = (
    "January February March April May June July August September October November December"
).split()
_DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC, which is what Argo's timestamps are."""
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _layout_chunks(layout: str) -> list[tuple[str, str]]:
    """Split a Go layout into ("lit", text) and (token, token) pieces, as Go's nextStdChunk."""
    chunks: list[tuple[str, str]] = []
    literal: list[str] = []
    i, n = 0, len(layout)

    def token_at(i: int) -> str | None:
        rest = layout[i:]
        ch = layout[i]
        if ch == "J" and rest.startswith("Jan"):
            return "January" if rest.startswith("January") else "Jan"
        if ch == "M" and rest.startswith("Mon"):
            if rest.startswith("Monday"):
                return "Monday"
            if not rest[3:4].islower():
                return "Mon"
        if ch == "M" and rest.startswith("MST"):
            return "MST"
        if ch == "0" and rest[1:2] in ("1", "2", "3", "4", "5", "6"):
            return rest[:2]
        if ch == "0" and rest.startswith("002"):
            return "002"
        if ch == "1":
            return "15" if rest.startswith("15") else "1"
        if ch == "2":
            return "2006" if rest.startswith("2006") else "2"
        if ch == "_" and rest.startswith("_2") and not rest.startswith("_2006"):
            return "__2" if rest.startswith("__2") else "_2"
        if ch == "_" and rest.startswith("__2"):
            return "__2"
        if ch in "345":
            return ch
        if rest.startswith(("PM", "pm")):
            return rest[:2]
        if ch in "-Z":
            for form in ("070000", "07:00:00", "0700", "07:00", "07"):
                if rest[1:].startswith(form):
                    return ch + form
        if ch in ".," and rest[1:2] in ("0", "9"):
            j = 1
            while j < len(rest) and rest[j] == rest[1]:
                j += 1
            if not rest[j : j + 1].isdigit():
                return rest[:j]
        return None

    while i < n:
        token = token_at(i)
        if token is None:
            literal.append(layout[i])
            i += 1
            continue
        if literal:
            chunks.append(("lit", "".join(literal)))
            literal = []
        chunks.append((token, token))
        i += len(token)
    if literal:
        chunks.append(("lit", "".join(literal)))
    return chunks


def _offset(value: datetime, token: str) -> str:
    delta = value.utcoffset() or timedelta(0)
    if token.startswith("Z") and delta == timedelta(0):
        return "Z"
    total = int(delta.total_seconds())
    sign = "-" if total < 0 else "+"
    hours, rem = divmod(abs(total), 3600)
    minutes, seconds = divmod(rem, 60)
    form = token[1:]
    if form == "07":
        return f"{sign}{hours:02d}"
    if form == "0700":
        return f"{sign}{hours:02d}{minutes:02d}"
    if form == "07:00":
        return f"{sign}{hours:02d}:{minutes:02d}"
    if form == "070000":
        return f"{sign}{hours:02d}{minutes:02d}{seconds:02d}"
    return f"{sign}{hours:02d}:{minutes:02d}:{seconds:02d}"


def _fraction(value: datetime, token: str) -> str:
    digits = f"{value.microsecond:06d}000"[: len(token) - 1]
    if token[1] == "9":
        digits = digits.rstrip("0")
        return token[0] + digits if digits else ""
    return token[0] + digits


_FORMATTERS: dict[str, Callable[[datetime], str]] = {
    "January": lambda d: _MONTHS[d.month - 1],
    "Jan": lambda d: _MONTHS[d.month - 1][:3],
    "1": lambda d: str(d.month),
    "01": lambda d: f"{d.month:02d}",
    "Monday": lambda d: _DAYS[d.weekday()],
    "Mon": lambda d: _DAYS[d.weekday()][:3],
    "2": lambda d: str(d.day),
    "_2": lambda d: f"{d.day:>2}",
    "02": lambda d: f"{d.day:02d}",
    "__2": lambda d: f"{d.timetuple().tm_yday:>3}",
    "002": lambda d: f"{d.timetuple().tm_yday:03d}",
    "15": lambda d: f"{d.hour:02d}",
    "3": lambda d: str(d.hour % 12 or 12),
    "03": lambda d: f"{d.hour % 12 or 12:02d}",
    "4": lambda d: str(d.minute),
    "04": lambda d: f"{d.minute:02d}",
    "5": lambda d: str(d.second),
    "05": lambda d: f"{d.second:02d}",
    "2006": lambda d: f"{d.year:04d}",
    "06": lambda d: f"{d.year % 100:02d}",
    "PM": lambda d: "PM" if d.hour >= 12 else "AM",
    "pm": lambda d: "pm" if d.hour >= 12 else "am",
    "MST": lambda d: d.tzname() or _offset(d, "-0700"),
}


def format_layout(value: datetime, layout: str) -> str:
    """Format with a Go reference layout such as "2006-01-02T15:04:05Z07:00"."""
    value = as_utc(value)
    out = []
    for kind, text in _layout_chunks(layout):
        if kind == "lit":
            out.append(text)
        elif kind[0] in "-Z" and len(kind) > 2:
            out.append(_offset(value, kind))
        elif kind[0] in ".,":
            out.append(_fraction(value, kind))
        else:
            out.append(_FORMATTERS[kind](value))
    return "".join(out)


_STRPTIME = {
    "January": "%B", "Jan": "%b", "1": "%m", "01": "%m", "Monday": "%A", "Mon": "%a",
    "2": "%d", "_2": "%d", "02": "%d", "__2": "%j", "002": "%j", "15": "%H", "3": "%I",
    "03": "%I", "4": "%M", "04": "%M", "5": "%S", "05": "%S", "2006": "%Y", "06": "%y",
    "PM": "%p", "pm": "%p", "MST": "%Z",
}  # fmt: skip


def parse_layout(text: str, layout: str) -> datetime:
    """Parse with a Go reference layout (via strptime, so close to but not exactly Go's rules)."""
    pattern = []
    for kind, chunk in _layout_chunks(layout):
        if kind == "lit":
            pattern.append(chunk.replace("%", "%%"))
        elif kind[0] in "-Z" and len(kind) > 2:
            pattern.append("%z")
        elif kind[0] in ".,":
            pattern.append(kind[0] + "%f")
        else:
            pattern.append(_STRPTIME[kind])
    text = re.sub(r"([.,]\d{6})\d+", r"\1", text)
    return as_utc(datetime.strptime(text, "".join(pattern)))


_ISO_FRACTION = re.compile(r"\.(\d+)")


def parse_time(text: str) -> datetime:
    """Read the timestamp forms Argo and expr produce: RFC3339(Nano), dates, RFC1123/822."""
    # Python 3.10's fromisoformat wants exactly 6 fraction digits; Go emits 0-9.
    cleaned = _ISO_FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text.strip(), 1)
    if cleaned.endswith(("Z", "z")):
        cleaned = cleaned[:-1] + "+00:00"
    try:
        return as_utc(datetime.fromisoformat(cleaned))
    except ValueError:
        pass
    if re.fullmatch(r"\d{2}:\d{2}:\d{2}", cleaned):
        return as_utc(datetime.strptime(cleaned, "%H:%M:%S"))
    try:
        return as_utc(parsedate_to_datetime(text))
    except (TypeError, ValueError, IndexError):
        pass
    raise ValueError(f"cannot read {text!r} as a time; use RFC3339 like 2006-01-02T15:04:05Z")


def rfc3339(value: datetime, nano: bool = False) -> str:
    """Go's RFC3339 (or RFC3339Nano, which trims trailing zeros of the fraction)."""
    value = as_utc(value)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if nano and value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + _offset(value, "Z07:00")


def go_time_string(value: datetime) -> str:
    """Go's `time.Time.String()`, e.g. "2024-01-02 03:04:05 +0000 UTC"."""
    value = as_utc(value)
    text = value.strftime("%Y-%m-%d %H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    zone = value.tzname() or ""
    return f"{text} {_offset(value, '-0700')} {zone}".rstrip()


def _nanoseconds(value: timedelta) -> int:
    return (value.days * 86400 + value.seconds) * 10**9 + value.microseconds * 1000


def _decimal(amount: int, scale: int) -> str:
    whole, frac = divmod(amount, 10**scale)
    digits = f"{frac:0{scale}d}".rstrip("0") if scale else ""
    return f"{whole}.{digits}" if digits else str(whole)


def go_duration_string(value: timedelta) -> str:
    """Go's `time.Duration.String()`: "1h2m3.5s", "1.5ms", "0s"."""
    ns = _nanoseconds(value)
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns == 0:
        return "0s"
    if ns < 1000:
        return f"{sign}{ns}ns"
    if ns < 10**6:
        return f"{sign}{_decimal(ns, 3)}µs"
    if ns < 10**9:
        return f"{sign}{_decimal(ns, 6)}ms"
    minutes, rem = divmod(ns, 60 * 10**9)
    hours, minutes = divmod(minutes, 60)
    text = f"{_decimal(rem, 9)}s"
    if hours or minutes:
        text = f"{minutes}m" + text
    if hours:
        text = f"{hours}h" + text
    return sign + text


_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9,
            "m": 60 * 10**9, "h": 3600 * 10**9}  # fmt: skip


def parse_go_duration(text: str) -> timedelta:
    """Go's `time.ParseDuration`: "300ms", "-1.5h", "2h45m"."""
    body = text.strip()
    sign = -1 if body.startswith("-") else 1
    body = body.lstrip("+-")
    if body == "0":
        return timedelta(0)
    total, pos = 0.0, 0
    for match in _DURATION_PART.finditer(body):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_NS[match.group(2)]
        pos = match.end()
    if pos == 0 or pos != len(body):
        raise ValueError(f"invalid duration {text!r}; use forms like 90s, 1h30m, 250ms")
    return timedelta(microseconds=sign * total / 1000)
