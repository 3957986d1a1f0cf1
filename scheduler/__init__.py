"""Recurring runs: periodic and cron triggers that start each scheduled run exactly once.

Layout (one job per module): `triggers` (pure fire-time maths, croniter + zoneinfo), `planner`
(pure catch-up and concurrency decisions), `spec` (the recurring run model), `tables`/`store`
(its rows in the metadata database, exactly-once by compare-and-set and a unique index), `runs`
(the run a fire creates, through the engine's MetadataStore), `service` (the loop, with an
injected `clock`), `definitions` (flags or an Argo CronWorkflow -> spec), `cli` (`kubepipe
recurring ...`, `kubepipe scheduler`, registered by entry point).
"""

from scheduler.clock import Clock, FakeClock, SimulatedClock, SystemClock
from scheduler.errors import (
    InvalidSchedule,
    RecurringRunExists,
    RecurringRunNotFound,
    SchedulerError,
)
from scheduler.spec import (
    SCHEDULED_TIME_PLACEHOLDER,
    ConcurrencyPolicy,
    Fire,
    FireState,
    RecurringRun,
    RecurringRunSpec,
)
from scheduler.triggers import CronTrigger, PeriodicTrigger, Trigger

__all__ = [
    "SCHEDULED_TIME_PLACEHOLDER",
    "Clock",
    "ConcurrencyPolicy",
    "CronTrigger",
    "FakeClock",
    "Fire",
    "FireState",
    "InvalidSchedule",
    "PeriodicTrigger",
    "RecurringRun",
    "RecurringRunExists",
    "RecurringRunNotFound",
    "RecurringRunSpec",
    "SchedulerError",
    "SimulatedClock",
    "SystemClock",
    "Trigger",
]
