"""Pure decisions: which due times of a recurring run to start, skip or leave for later.

`plan` looks only at the trigger, the cursor (every time at or before it is decided), the time
now and the catch-up settings; `apply_concurrency` then folds in the runs still going. Neither
touches a database, so every rule here is tested without one.

Missed times (after downtime, or a loop that fell behind):
- `catchup=True`: every missed time is started, oldest first, up to `batch` per decision;
- `catchup=False`: only the latest missed time is started (Argo's and KFP no_catchup's rule);
- either way, a time older than `starting_deadline_seconds` is not started.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.spec import ConcurrencyPolicy
from scheduler.triggers import CronTrigger, PeriodicTrigger


@dataclass(frozen=True)
class Plan:
    start: tuple[int, ...]  # due times to start runs for, oldest first
    cursor: int  # every time at or before this is decided once the plan is recorded
    next_fire_time: int | None
    dropped: tuple[int, int] | None = None  # (first, last) due times not started (catch-up rules)
    skip: tuple[tuple[int, str], ...] = field(default=())  # due times recorded as Skipped, why


@dataclass(frozen=True)
class Wait:
    """A concurrency limit holds the due times back: look again at `until`."""

    until: float


def plan(
    trigger: CronTrigger | PeriodicTrigger,
    *,
    cursor: int,
    now: float,
    catchup: bool,
    starting_deadline_seconds: int | None,
    batch: int = 500,
) -> Plan:
    now_s = int(now)
    first = trigger.next_after(cursor)
    if first is None or first > now_s:
        return Plan((), cursor, first)
    oldest_allowed = (
        None if starting_deadline_seconds is None else now_s - starting_deadline_seconds
    )
    if not catchup:
        latest = trigger.latest_at_or_before(now_s)
        if latest is None or latest <= cursor:  # not reachable for a sane trigger; stay safe
            latest = first
        start = () if oldest_allowed is not None and latest < oldest_allowed else (latest,)
        dropped = None if start == (first,) else (first, latest)
        return Plan(start, now_s, trigger.next_after(now_s), dropped)
    t: int | None = first
    dropped = None
    if oldest_allowed is not None and first < oldest_allowed:
        t = trigger.next_after(oldest_allowed - 1)
        dropped = (first, trigger.latest_at_or_before(oldest_allowed - 1) or first)
    times: list[int] = []
    while t is not None and t <= now_s and len(times) < batch:
        times.append(t)
        t = trigger.next_after(t)
    # A full batch leaves the rest due: the cursor stops at the last time started.
    new_cursor = times[-1] if len(times) == batch and t is not None and t <= now_s else now_s
    return Plan(tuple(times), new_cursor, trigger.next_after(new_cursor), dropped)


def apply_concurrency(
    p: Plan,
    *,
    policy: ConcurrencyPolicy,
    max_concurrency: int | None,
    active: list[str],
    now: float,
    recheck: float,
    trigger: CronTrigger | PeriodicTrigger,
) -> Plan | Wait:
    """Fold the runs still going (`active`, run ids) into a plan.

    Forbid: while a run is going, due times are Skipped; with none going, the oldest starts and
    the rest of this batch are Skipped (they would overlap it). Replace: only the newest starts;
    older ones are Skipped and the caller stops the active runs. Allow with `max_concurrency`:
    due times wait for a free slot (nothing is skipped).
    """
    if not p.start:
        return p
    if policy is ConcurrencyPolicy.FORBID:
        if active:
            why = f"Forbid: run {active[0]} is still running"
            return Plan((), p.cursor, p.next_fire_time, p.dropped, tuple((t, why) for t in p.start))
        first, rest = p.start[0], p.start[1:]
        why = f"Forbid: the run for {first} started in the same tick"
        return Plan((first,), p.cursor, p.next_fire_time, p.dropped, tuple((t, why) for t in rest))
    if policy is ConcurrencyPolicy.REPLACE:
        newest, older = p.start[-1], p.start[:-1]
        why = f"Replace: superseded by the run for {newest}"
        return Plan(
            (newest,), p.cursor, p.next_fire_time, p.dropped, tuple((t, why) for t in older)
        )
    if max_concurrency is None:
        return p
    slots = max_concurrency - len(active)
    if slots <= 0:
        return Wait(now + recheck)
    if slots >= len(p.start):
        return p
    kept = p.start[:slots]
    return Plan(kept, kept[-1], trigger.next_after(kept[-1]), p.dropped)
