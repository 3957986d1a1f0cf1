"""The scheduler loop: sleep until the next due time, decide it once, create its run.

Level-triggered like the engine: the database holds each recurring run's cursor, and a tick
reads the row, plans purely (`scheduler.planner`), records the decision with a compare-and-set
(`RecurringStore.decide`), and only then creates the runs (`scheduler.runs.RunFactory`).
A crash after the decision leaves Pending fires, which `recover` completes; a crash after the
run was created but before the fire was marked makes `recover` find the run by its
deterministic id. Several loops on one PostgreSQL database are safe: whoever loses the
compare-and-set re-reads the row and finds nothing left to do.

The loop keeps an in-memory heap of next fire times and sleeps until the earliest; while it
sleeps, it reads a one-row change counter every `wake_interval` seconds so a schedule created
or edited elsewhere is noticed without polling the schedules themselves.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone

from sqlalchemy.exc import OperationalError

from engine.errors import RunNotFound
from engine.metadata.store import MetadataStore
from engine.spec import ConcurrencyPolicy
from scheduler.clock import Clock
from scheduler.planner import Wait, apply_concurrency, plan
from scheduler.runs import RunFactory, run_id_for, run_name_for
from scheduler.settings import SchedulerSettings
from scheduler.spec import FireState, RecurringRun
from scheduler.store import NewFire, RecurringStore

OnFire = Callable[[RecurringRun, int, str, float], None]  # (recurring run, due, run id, created)
DeleteRun = Callable[[str], None]


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat()


class Scheduler:
    def __init__(
        self,
        store: RecurringStore,
        metadata: MetadataStore,
        *,
        clock: Clock,
        settings: SchedulerSettings | None = None,
        log: Callable[[str], None] = lambda line: None,
        on_fire: OnFire | None = None,
        delete_run: DeleteRun | None = None,
    ) -> None:
        self.store = store
        self.metadata = metadata
        self.clock = clock
        self.settings = settings or SchedulerSettings()
        self.log = log
        self.on_fire = on_fire
        self.delete_run = delete_run  # applies history limits; None keeps every run
        self.runs = RunFactory(metadata)
        self._heap: list[tuple[float, str]] = []
        self._due: dict[str, float] = {}
        # Rows as this loop last wrote them: a stale one only costs a failed compare-and-set.
        self._recs: dict[str, RecurringRun] = {}
        # Fires whose run exists but whose row still says Pending, flushed once per tick.
        self._unmarked: dict[str, list[int]] = {}

    # -- the heap of due times -----------------------------------------------------------------
    def reload(self) -> None:
        """Read every enabled recurring run's next fire time (at start and after a change)."""
        self._recs = {rec.id: rec for rec in self.store.enabled()}
        self._due = {
            rid: float(rec.next_fire_time)
            for rid, rec in self._recs.items()
            if rec.next_fire_time is not None
        }
        self._heap = [(t, rid) for rid, t in self._due.items()]
        heapq.heapify(self._heap)

    def _push(self, rid: str, when: float | None) -> None:
        if when is None:
            self._due.pop(rid, None)
            return
        self._due[rid] = when
        heapq.heappush(self._heap, (when, rid))

    def next_due(self) -> float | None:
        while self._heap and self._due.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)  # superseded entry
        return self._heap[0][0] if self._heap else None

    # -- one tick ------------------------------------------------------------------------------
    def tick(self, now: float) -> int:
        """Decide everything due at or before `now`; returns how many runs were created."""
        created = 0
        visits: dict[str, int] = {}
        while True:
            due = self.next_due()
            if due is None or due > now:
                if due is None or due - now > 30.0 or len(self._unmarked) > 100:
                    self.flush()
                return created
            _, rid = heapq.heappop(self._heap)
            del self._due[rid]
            visits[rid] = visits.get(rid, 0) + 1
            if visits[rid] > 1000:  # a bug guard: never spin on one schedule inside a tick
                self._push(rid, now + self.settings.busy_recheck)
                continue
            created += self._process(rid, now)

    def _process(self, rid: str, now: float) -> int:
        for attempt in range(5):
            rec = self._recs.pop(rid, None) if attempt == 0 else None
            rec = rec or self.store.find(rid)
            if rec is None or not rec.enabled:
                return 0
            spec = rec.spec
            decided = plan(
                spec.trigger,
                cursor=rec.cursor,
                now=now,
                catchup=spec.catchup,
                starting_deadline_seconds=spec.starting_deadline_seconds,
                batch=self.settings.batch,
            )
            if not decided.start and decided.cursor == rec.cursor:
                self._recs[rid] = rec
                self._push(rid, decided.next_fire_time)  # nothing due (another loop was first)
                return 0
            active: list[str] = []
            if decided.start and (
                spec.concurrency_policy is not ConcurrencyPolicy.ALLOW
                or spec.max_concurrency is not None
            ):
                active = self.active_runs(rec)
            outcome = apply_concurrency(
                decided,
                policy=spec.concurrency_policy,
                max_concurrency=spec.max_concurrency,
                active=active,
                now=now,
                recheck=self.settings.busy_recheck,
                trigger=spec.trigger,
            )
            if isinstance(outcome, Wait):
                self._push(rid, outcome.until)
                return 0
            fires = [
                NewFire(t, FireState.PENDING, run_id_for(rec.id, t), run_name_for(rec.name, t))
                for t in outcome.start
            ] + [NewFire(t, FireState.SKIPPED, reason=why) for t, why in outcome.skip]
            if not self.store.decide(
                rec,
                cursor=outcome.cursor,
                next_fire_time=outcome.next_fire_time,
                fires=fires,
                now=self.clock.now(),
                marks=self._unmarked,
            ):
                continue  # changed under us: read it again
            self._unmarked = {}
            started = [rec.last_scheduled_time or 0, *outcome.start]
            self._recs[rid] = replace(
                rec,
                cursor=outcome.cursor,
                next_fire_time=outcome.next_fire_time,
                last_scheduled_time=max(started) or None,
            )
            if outcome.dropped:
                first, last = outcome.dropped
                self.log(
                    f"recurring run {rec.name}: missed times {_iso(first)} .. {_iso(last)} not "
                    "started (catchup off or past startingDeadlineSeconds)"
                )
            for t, why in outcome.skip:
                self.log(f"recurring run {rec.name}: skipped {_iso(t)}: {why}")
            if outcome.start and spec.concurrency_policy is ConcurrencyPolicy.REPLACE:
                replacement = run_name_for(rec.name, outcome.start[-1])
                for run_id in active:
                    self.metadata.request_stop(
                        run_id, f"Replaced by {replacement} (concurrencyPolicy Replace)"
                    )
            for t in outcome.start:
                self._create(rec, t)
            self._push(rid, outcome.next_fire_time)
            return len(outcome.start)
        self._push(rid, now + self.settings.busy_recheck)  # heavy contention: back off
        return 0

    def _create(self, rec: RecurringRun, scheduled_time: int) -> None:
        created_at = self.clock.now()
        run_id, created = self.runs.ensure(rec, scheduled_time, created_at)
        # Marking the fire Created can wait (it rides along with the next decision, or is
        # flushed before a long sleep): until then it is Pending, which counts as a running run
        # and which `recover` would complete without a twin.
        self._unmarked.setdefault(rec.id, []).append(scheduled_time)
        if created and self.on_fire is not None:
            self.on_fire(rec, scheduled_time, run_id, created_at)

    def flush(self) -> None:
        """Mark the fires of this tick's new runs Created, in one transaction."""
        if self._unmarked:
            self.store.mark_created(self._unmarked)
            self._unmarked = {}

    # -- runs still going ----------------------------------------------------------------------
    def active_runs(self, rec: RecurringRun) -> list[str]:
        """Ids of this recurring run's runs that are not finished (Pending fires count)."""
        active: list[str] = []
        done: list[str] = []
        for fire in self.store.unfinished_fires(rec.id):
            if fire.run_id is None:
                continue
            if fire.state is FireState.PENDING:
                active.append(fire.run_id)
                continue
            try:
                finished = self.metadata.resolve_run(fire.run_id).phase.is_finished
            except RunNotFound:
                finished = True  # deleted by someone: not running
            (done if finished else active).append(fire.run_id)
        self.store.mark_finished(rec.id, done)
        return active

    # -- housekeeping --------------------------------------------------------------------------
    def recover(self) -> int:
        """Create the runs of fires a crashed (or racing) scheduler decided but did not finish."""
        self.flush()  # this loop's own Pending fires are done: only others' leftovers remain
        count = 0
        for fire in self.store.pending_fires():
            rec = self.store.find(fire.recurring_id)
            if rec is not None:
                self._create(rec, fire.scheduled_time)
                count += 1
        self.flush()
        return count

    def apply_history_limits(self) -> int:
        """Delete finished runs beyond successful/failed history limits (Argo's *JobsHistoryLimit)."""
        if self.delete_run is None:
            return 0
        deleted = 0
        for rec in self.store.with_history_limits():
            ok_limit, failed_limit = (
                rec.spec.successful_history_limit,
                rec.spec.failed_history_limit,
            )
            if ok_limit is None and failed_limit is None:
                continue
            self.active_runs(rec)  # marks finished runs
            kept_ok = kept_failed = 0
            doomed: list[str] = []
            for fire in reversed(self.store.fires(rec.id)):
                if fire.state is not FireState.CREATED or not fire.finished or not fire.run_id:
                    continue
                if fire.reason == _PRUNED:
                    continue
                try:
                    phase = self.metadata.resolve_run(fire.run_id).phase
                except RunNotFound:
                    continue
                if phase.value == "Succeeded":
                    kept_ok += 1
                    if ok_limit is not None and kept_ok > ok_limit:
                        doomed.append(fire.run_id)
                else:
                    kept_failed += 1
                    if failed_limit is not None and kept_failed > failed_limit:
                        doomed.append(fire.run_id)
            for run_id in doomed:
                self.delete_run(run_id)
                deleted += 1
            self.store.mark_pruned(rec.id, doomed, _PRUNED)
        return deleted

    def run_once(self, now: float) -> int:
        """One pass without sleeping (`kubepipe scheduler --once`): read every schedule,
        complete leftovers, decide everything due at or before `now`."""
        self.reload()
        self.recover()
        created = self.tick(now)
        self.flush()
        return created

    # -- the loop ------------------------------------------------------------------------------
    def run(self, *, until: float | None = None, stop: threading.Event | None = None) -> None:
        """Loop until `stop` is set, or (for tests and the benchmark) until the clock passes
        `until`, after deciding every time due at or before it."""
        self.reload()
        self.recover()
        counter = self.store.change_counter()
        now = self.clock.now()
        next_poll = now + self.settings.wake_interval
        next_house = now + self.settings.housekeeping_interval
        while stop is None or not stop.is_set():
            now = self.clock.now()
            try:
                self.tick(now if until is None else min(now, until))
            except OperationalError as exc:
                # A deadlock victim or a dropped connection: every decision is one transaction,
                # so nothing is half-done. Read the schedules again and carry on.
                self.log(f"scheduler: database error, retrying: {str(exc).splitlines()[0]}")
                self.clock.sleep(1.0)
                self.reload()
                continue
            if until is not None and now >= until:
                self.flush()
                return
            now = self.clock.now()
            if now >= next_poll:
                latest = self.store.change_counter()
                if latest != counter:
                    counter = latest
                    self.reload()
                next_poll = now + self.settings.wake_interval
            if now >= next_house:
                self.recover()
                self.apply_history_limits()
                next_house = now + self.settings.housekeeping_interval
            wake = min(t for t in (self.next_due(), next_poll, next_house, until) if t is not None)
            self.clock.sleep(wake - self.clock.now())
        self.flush()


_PRUNED = "run deleted by the history limit"
