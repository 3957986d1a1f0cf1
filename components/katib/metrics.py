"""Metrics from a trial's output, parsed as Katib's collectors parse them.

TEXT (StdOut and File collectors) follows `file-metricscollector.go`: a line that contains none
of the wanted metric names is skipped; a leading RFC 3339 timestamp is taken off; every filter
regex is applied, group 1 is the name (it must be a wanted metric) and group 2 the value. JSON
is one object per line with metric keys and an optional `timestamp`. A trial's objective value
is the metric's strategy (min/max/latest) over everything it reported, as
`status_util.go getObjectiveMetricValue` computes it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from components.katib.spec import MetricStrategyType, Objective

__all__ = [
    "FILE_MARKER",
    "metric_value",
    "observation",
    "parse_json_lines",
    "parse_text_lines",
]

# Printed by the trial's wrapper before it copies a File/Push collector's file onto stdout.
FILE_MARKER = "### kubepipe-katib metrics file ###"

Reports = dict[str, list[float]]


def _is_timestamp(token: str) -> bool:
    try:
        datetime.fromisoformat(token.replace("Z", "+00:00"))
    except ValueError:
        return False
    return "T" in token


def _number(text: object) -> float | None:
    try:
        value = float(str(text))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_text_lines(
    lines: Iterable[str], metric_names: Sequence[str], filters: Sequence[str]
) -> Reports:
    """Every reported value of each wanted metric, in order, from TEXT lines."""
    patterns = [re.compile(f) for f in filters]
    wanted = set(metric_names)
    out: Reports = {name: [] for name in metric_names}
    for raw in lines:
        line = raw.strip()
        if not line or not any(name in line for name in wanted):
            continue
        first, _, rest = line.partition(" ")
        if rest and _is_timestamp(first):
            line = rest
        for pattern in patterns:
            for match in pattern.finditer(line):
                if match.lastindex is None or match.lastindex < 2:
                    continue
                name, value = match.group(1).strip(), _number(match.group(2))
                if name in wanted and value is not None:
                    out[name].append(value)
    return out


def parse_json_lines(lines: Iterable[str], metric_names: Sequence[str]) -> Reports:
    """Every reported value of each wanted metric from JSON lines; other lines are skipped."""
    out: Reports = {name: [] for name in metric_names}
    for raw in lines:
        line = raw.strip()
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        for name in metric_names:
            if name in record:
                value = _number(record[name])
                if value is not None:
                    out[name].append(value)
    return out


def metric_value(values: Sequence[float], strategy: MetricStrategyType) -> float | None:
    """One number for a metric: its min, max or latest report (None when it never reported)."""
    if not values:
        return None
    if strategy is MetricStrategyType.MIN:
        return min(values)
    if strategy is MetricStrategyType.MAX:
        return max(values)
    return values[-1]


def observation(reports: Mapping[str, Sequence[float]], objective: Objective) -> dict[str, object]:
    """Katib's `observation`: per metric its min, max and latest, as strings."""
    metrics = []
    for name in objective.metric_names:
        values = list(reports.get(name, []))
        if not values:
            metrics.append(
                {"name": name, "min": "unavailable", "max": "unavailable", "latest": "unavailable"}
            )
            continue
        metrics.append(
            {
                "name": name,
                "min": _text(min(values)),
                "max": _text(max(values)),
                "latest": _text(values[-1]),
            }
        )
    return {"metrics": metrics}


def _text(value: float) -> str:
    return (
        repr(value)
        if not value.is_integer()
        else str(int(value))
        if abs(value) < 1e15
        else repr(value)
    )
