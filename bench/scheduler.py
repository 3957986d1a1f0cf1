"""Scheduler benchmark: many enabled recurring runs with mixed cron/periodic triggers over a
simulated day; prints the scheduler's CPU time per fire and the largest lag between a due time
and its run's creation.

The clock is `SimulatedClock`: it runs at real speed while the loop works and jumps over its
sleeps, so the lag printed is the lag the loop would have on a real clock (the target is at
most 1 s), while a day takes minutes. CPU is this process's (the loop plus SQLite) per run
created (the target is at most 1 ms).

    python bench/scheduler.py                    # 10,000 recurring runs, SQLite in a temp dir
    python bench/scheduler.py --recurring 2000 --hours 6 --db-url postgresql+psycopg://...
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.metadata.store import MetadataStore  # noqa: E402
from scheduler.clock import SimulatedClock  # noqa: E402
from scheduler.service import Scheduler  # noqa: E402
from scheduler.settings import SchedulerSettings  # noqa: E402
from scheduler.spec import RecurringRunSpec  # noqa: E402
from scheduler.store import RecurringStore  # noqa: E402

WORKFLOW = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"generateName": "bench-"},
    "spec": {
        "entrypoint": "main",
        "templates": [{"name": "main", "container": {"image": "busybox", "command": ["true"]}}],
    },
}
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"]


def trigger(rng: random.Random, day_start: datetime) -> dict:
    """A realistic mix: hourly-ish and daily crons at random minutes, periodic every 15m-1d."""
    zone = rng.choice(ZONES)
    if rng.random() < 0.5:
        m = rng.randrange(60)
        expression = rng.choice(
            [
                f"{m} * * * *",
                f"{m} */2 * * *",
                f"{m} */6 * * *",
                f"{m} {rng.randrange(24)} * * *",
                f"{m} 9-17 * * 1-5",
                f"{m % 30}/30 * * * *",
            ]
        )
        return {"kind": "cron", "expressions": [expression], "timezone": zone}
    interval = rng.choice([900, 1800, 3600, 7200, 4 * 3600, 86400])
    start = day_start - timedelta(seconds=rng.randrange(interval))
    return {
        "kind": "periodic",
        "interval_seconds": interval,
        "timezone": zone,
        "start_time": start.isoformat(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recurring", type=int, default=10_000)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--db-url", default=None, help="default: SQLite in a temp directory")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    day_start = datetime(2025, 6, 2, tzinfo=timezone.utc)
    start = day_start.timestamp()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        store, metadata = RecurringStore(url), MetadataStore(url)
        t = time.perf_counter()
        for i in range(args.recurring):
            spec = RecurringRunSpec(
                name=f"bench-{i}", workflow=WORKFLOW, trigger=trigger(rng, day_start)
            )
            store.create(spec, enabled=True, now=start, cursor=int(start))
        setup = time.perf_counter() - t

        lags: list[float] = []

        def on_fire(rec: object, due: int, run_id: str, created_at: float) -> None:
            lags.append(created_at - due)

        clock = SimulatedClock(start)
        loop = Scheduler(
            store,
            metadata,
            clock=clock,
            settings=SchedulerSettings(wake_interval=2.0, housekeeping_interval=30.0),
            on_fire=on_fire,
        )
        cpu, wall = time.process_time(), time.perf_counter()
        loop.run(until=start + args.hours * 3600)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall

    fires = len(lags)
    print(f"recurring runs        {args.recurring:,} (created in {setup:.1f} s)")
    print(f"simulated             {args.hours:g} h in {wall:.1f} s wall on {url.split(':')[0]}")
    print(f"runs created          {fires:,}")
    if fires:
        print(f"CPU per fire          {cpu / fires * 1000:.3f} ms  (target <= 1 ms)")
        print(f"lag max               {max(lags) * 1000:.1f} ms  (target <= 1000 ms)")
        print(f"lag p99               {statistics.quantiles(lags, n=100)[98] * 1000:.1f} ms")
        print(f"lag median            {statistics.median(lags) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
