"""Two scheduler processes on one PostgreSQL database, a simulated day of `* * * * *`:
1,440 runs, none twice, every minute decided by exactly one of them."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from sched_support import create, postgres_url, spec

from engine.metadata.store import MetadataStore, RunFilter
from scheduler.store import RecurringStore

ROOT = Path(__file__).resolve().parents[3]
DAY = 86400
T0 = int(datetime(2025, 3, 1, tzinfo=timezone.utc).timestamp())

_LOOP = textwrap.dedent(
    """
    import sys
    from engine.metadata.store import MetadataStore
    from scheduler.clock import FakeClock
    from scheduler.service import Scheduler
    from scheduler.settings import SchedulerSettings
    from scheduler.store import RecurringStore

    url, start, until = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    made = []
    Scheduler(
        RecurringStore(url),
        MetadataStore(url),
        clock=FakeClock(start),
        settings=SchedulerSettings(wake_interval=1e9, housekeeping_interval=1e9),
        on_fire=lambda rec, t, run_id, created: made.append(t),
    ).run(until=until)
    print(len(made))
    """
)


def test_two_schedulers_on_postgres_fire_each_minute_once() -> None:
    for url in postgres_url():
        store, metadata = RecurringStore(url), MetadataStore(url)
        rec = create(
            store, spec("minutely", trigger={"kind": "cron", "expressions": ["* * * * *"]}), T0
        )
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _LOOP, url, str(T0), str(T0 + DAY)],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [p.communicate(timeout=300) for p in procs]
        for p, (out, err) in zip(procs, outputs):
            assert p.returncode == 0, err
        made = [int(out.strip()) for out, _ in outputs]
        runs = metadata.list_runs(RunFilter(limit=10_000))
        fires = store.fires(rec.id)
        expected = [T0 + 60 * i for i in range(1, 1441)]
        assert len(runs) == 1440 and len({r.name for r in runs}) == 1440
        assert sorted(int(r.name.rsplit("-", 1)[1]) for r in runs) == expected
        assert [f.scheduled_time for f in fires] == expected
        assert not [t for t, n in Counter(f.scheduled_time for f in fires).items() if n > 1]
        assert sum(made) == 1440  # each minute's run was created by exactly one of the two
        store.close()
        metadata.close()
