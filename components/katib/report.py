"""`report_metrics(dict)`: how a trial pushes its metrics under Katib's Push collector.

Katib's SDK sends them to its DB manager over gRPC, keyed by the trial's name. Here the trial's
collector wrapper (template.py) points `KATIB_METRICS_FILE` at a file private to the pod; each
call appends one JSON line (the metrics and an RFC 3339 `timestamp`, Katib's JSON metrics
format), the wrapper copies the file onto the container's stdout once the trainer exits, and the
controller parses it with the File collector's JSON reader. So a push survives with the pod's
log, and a metric reported several times keeps every value for min/max/latest.

Stdlib only, with its imports inside: `katib.tune(metrics_collector="Push")` injects this
function's source into trials that run without kubepipe installed (a bare python image).
"""

from __future__ import annotations

__all__ = ["METRICS_FILE_ENV", "report_metrics"]

METRICS_FILE_ENV = "KATIB_METRICS_FILE"


def report_metrics(metrics: dict) -> None:  # type: ignore[type-arg]
    """Record `metrics` ({name: number}) for the running trial, e.g. once per epoch."""
    import datetime
    import json
    import math
    import os

    path = os.environ.get("KATIB_METRICS_FILE")
    if not path:
        raise RuntimeError(
            "report_metrics: KATIB_METRICS_FILE is not set, so this is not a trial of an "
            "Experiment whose metricsCollectorSpec.collector.kind is Push; run it as one "
            "(katib.tune(..., metrics_collector='Push')) or print name=value lines instead"
        )
    if not isinstance(metrics, dict) or not metrics:
        raise ValueError(
            f"report_metrics: give a non-empty dict of metric name to number, got {metrics!r}"
        )
    record: dict[str, object] = {}
    for name, value in metrics.items():
        if not isinstance(name, str) or not name or name == "timestamp":
            raise ValueError(
                f"report_metrics: metric names are non-empty strings other than 'timestamp', "
                f"got {name!r}"
            )
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if isinstance(value, bool) or not math.isfinite(number):
            raise ValueError(
                f"report_metrics: metric {name!r} must be a finite number, got {value!r}"
            )
        record[name] = number
    now = datetime.datetime.now(datetime.timezone.utc)
    record["timestamp"] = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
