"""medianstop: stop a running trial whose objective is worse than the median of finished ones.

Katib's service (`pkg/earlystopping/v1beta1/medianstop/service.py`): for each succeeded trial,
average its first `start_step` objective reports; once at least `min_trials_required` such
trials exist, a running trial that has reported `start_step` times and whose latest value is
worse than the median (greater when minimising, less when maximising) is stopped and marked
EarlyStopped.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from components.katib.settings import MedianStopSettings
from components.katib.spec import ObjectiveType

__all__ = ["median_rule", "should_stop"]


def median_rule(
    settings: MedianStopSettings, finished_reports: Sequence[Sequence[float]]
) -> float | None:
    """The median of the finished trials' early averages, or None while too few have finished."""
    averages = [statistics.fmean(r[: settings.start_step]) for r in finished_reports if len(r) > 0]
    if len(averages) < settings.min_trials_required:
        return None
    return statistics.median(averages)


def should_stop(
    settings: MedianStopSettings,
    direction: ObjectiveType,
    running_reports: Sequence[float],
    median: float | None,
) -> str | None:
    """Why the running trial should stop now, or None to let it run."""
    if median is None or len(running_reports) < settings.start_step:
        return None
    latest = running_reports[-1]
    if direction.better(median, latest):
        comparison = ">" if direction is ObjectiveType.MINIMIZE else "<"
        return (
            f"medianstop: objective {latest:g} {comparison} median {median:g} after "
            f"{len(running_reports)} reports"
        )
    return None
