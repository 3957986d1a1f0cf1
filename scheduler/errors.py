"""The scheduler's errors, all under one root so callers catch one thing.

KubepipeError (engine)
└── SchedulerError
    ├── InvalidSchedule        a trigger or recurring-run field a person must fix (exit 2)
    ├── RecurringRunNotFound   no recurring run by that name or id
    └── RecurringRunExists     the name is taken
"""

from __future__ import annotations

from engine.errors import KubepipeError


class SchedulerError(KubepipeError):
    """Root of the scheduler's errors."""


class InvalidSchedule(SchedulerError):
    """A field of a recurring run is wrong; `field` names it in the model's spelling
    (`cron`, `interval`, `timezone`, `start_time`, ...) so the CLI can name its flag."""

    def __init__(self, field: str, problem: str, fix: str = "") -> None:
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(f"{field}: {problem}" + (f"; {fix}" if fix else ""))


class RecurringRunNotFound(SchedulerError):
    """No recurring run with that name or id."""


class RecurringRunExists(SchedulerError):
    """A recurring run with that name already exists."""
