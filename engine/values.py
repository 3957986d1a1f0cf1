"""Parsing of the scalar formats Argo manifests use: durations, quantities, loop items."""

from __future__ import annotations

import json
import re
from typing import Any

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)")
_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}


# The longest duration anything accepts: a century. Longer ones are typos, and deadlines, timers
# and fire times built from them must stay inside what clocks, `datetime` and BIGINT hold.
MAX_DURATION_SECONDS = 100 * 365 * 86400


class DurationOutOfRange(ValueError):
    """A duration that reads as one but is infinite, NaN or longer than MAX_DURATION_SECONDS."""


def parse_duration(text: str | int | float | None, *, field: str = "duration") -> float | None:
    """Seconds from Argo's duration forms: a bare number of seconds, or Go's `1h2m3s`; at most
    MAX_DURATION_SECONDS either way (`DurationOutOfRange` beyond, or for inf/NaN)."""
    if text is None or text == "":
        return None
    if isinstance(text, (int, float)):
        return _in_range(text, text, field)
    value = text.strip()
    try:
        return _in_range(float(value), text, field)
    except DurationOutOfRange:
        raise
    except ValueError:
        pass
    pos, total = 0, 0.0
    for match in _DURATION.finditer(value):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(value) or pos == 0:
        raise ValueError(
            f"{field} {_shown(text)} is not a duration; use seconds (30) or a Go duration (1m30s)"
        )
    return _in_range(total, text, field)


def _in_range(seconds: int | float, text: str | int | float, field: str) -> float:
    """`seconds` as a float, compared before converting (an int may not fit in one)."""
    if seconds != seconds or abs(seconds) > MAX_DURATION_SECONDS:  # NaN is not equal to itself
        raise DurationOutOfRange(
            f"{field} {_shown(text)} is out of range; a duration is at most "
            f"{MAX_DURATION_SECONDS} seconds (100 years)"
        )
    return float(seconds)


def _shown(text: str | int | float) -> str:
    try:
        shown = repr(text)
    except ValueError:  # an int past Python's digit limit
        return "(a number too long to show)"
    return shown if len(shown) <= 42 else shown[:39] + "..."


_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "": 1,
    "n": 1e-9,
    "u": 1e-6,
    "m": 1e-3,
    "k": 1e3,
    "K": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
}


def parse_quantity(text: str | int | float, *, field: str = "quantity") -> float:
    """A Kubernetes resource quantity (`500m`, `1.5`, `256Mi`, `1G`) as a plain number."""
    if isinstance(text, (int, float)):
        return float(text)
    match = _QUANTITY.match(str(text).strip())
    if not match:
        raise ValueError(f"{field} {text!r} is not a Kubernetes quantity (e.g. 500m, 2, 256Mi)")
    number, suffix = match.groups()
    if suffix in _BINARY:
        return float(number) * _BINARY[suffix]
    if suffix in _DECIMAL:
        return float(number) * _DECIMAL[suffix]
    raise ValueError(f"{field} {text!r} has an unknown unit {suffix!r}")


def item_text(item: Any) -> str:
    """How an item reads in `{{item}}`: strings as-is, everything else as JSON."""
    if isinstance(item, str):
        return item
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, float) and item.is_integer():
        return str(int(item))
    return json.dumps(item, separators=(",", ":"))


def item_label(item: Any) -> str:
    """The item part of a loop child's name, as Argo writes it: `print(0:a)`, `t(1:k1:v1,k2:v2)`."""
    if isinstance(item, dict):
        return ",".join(f"{k}:{item_text(item[k])}" for k in sorted(item))
    if isinstance(item, list):
        return json.dumps(item, separators=(",", ":"))
    return item_text(item)


def json_value(text: str) -> Any:
    """Decode a JSON value if the text is one, else keep the text (Argo's aggregate rule)."""
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def trim_one_newline(text: str) -> str:
    return text[:-1] if text.endswith("\n") else text
