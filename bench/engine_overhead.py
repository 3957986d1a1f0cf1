"""Engine overhead benchmark: what the engine itself costs per step, apart from the steps' work.

Two measurements, each on a fresh SQLite home in a temp dir:

1. **Per-step overhead (LocalRunner).** A DAG chain of N trivial steps (task i depends on task
   i-1, each a container running `true`) is submitted and executed end to end. The same bare
   process is also spawned N times serially with `subprocess.run(["true"])`, so the process cost
   the machine charges anyway can be subtracted: overhead = (wall - N x bare) / N.
   Target: <= 10 ms per step. A chain is the worst case: every step is its own reconcile.
2. **Scale (InstantRunner).** A root task, fan-out into C independent chains of L tasks, then
   one fan-in task that depends on every chain end (C*L + 2 tasks); steps finish on their first
   poll, so the wall time is all engine: walks, node bookkeeping, SQLite commits. Reported:
   wall time, node transitions per second (rows in `node_events`), peak RSS.
   Targets: >= 2,000 transitions/s, <= 300 MB.

`python bench/engine_overhead.py [--quick] [--only chain|dag] [--steps N] [--isolation MODE]
[--chains C --length L] [--dir DIR]`.
It prints figures and asserts nothing. `--quick` is 50 steps and 10 x 10.

Where it runs matters: a step's workdir is a score of new files and directories, and creating
one costs from 10 us (tmpfs) to 1 ms (a busy VM's ext4; /tmp on the development VM is slower
than the home directory on the same disk). So each measurement gets a fresh home (SQLite,
artifacts, step workdirs) in a temp dir beside the engine's own home (`KUBEPIPE_HOME`, default
~/.kubepipe), on the disk a user's runs would use; `--dir DIR`, or an explicit `TMPDIR`, puts it
elsewhere (`TMPDIR=/dev/shm` takes the disk out of the figures, and out of what they mean).
The chain prints the place and what creating a directory and a file costs there; compare runs
only when those agree. Runs back to back tax each other on ext4 without a journal: removing a
home frees thousands of inodes, and for a minute or more the allocator walks past recently
freed ones (mkdir measured 0.05 ms on a quiet disk, 0.3-1 ms right after such a removal).
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from artifact_store import open_store
from engine.executor import Engine
from engine.metadata.store import MetadataStore
from engine.metadata.testing import PostgresUnreachable, throwaway_schema
from engine.runners.base import Runner
from engine.runners.fake import InstantRunner
from engine.runners.local import LocalRunner, LocalRunnerSettings
from engine.settings import Settings
from engine.spec import Workflow
from engine.validate import validate_workflow

TARGET_STEP_MS = 10.0
TARGET_TRANSITIONS_PER_S = 2_000.0
TARGET_RSS_MB = 300.0
NOOP: dict[str, Any] = {"name": "noop", "container": {"image": "alpine:3.19", "command": ["true"]}}


def _workflow(name: str, tasks: list[dict[str, Any]]) -> Workflow:
    return Workflow.model_validate(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"generateName": f"{name}-"},
            "spec": {
                "entrypoint": "main",
                "templates": [{"name": "main", "dag": {"tasks": tasks}}, NOOP],
            },
        }
    )


def chain_workflow(steps: int) -> Workflow:
    tasks = [
        {"name": f"t{i}", "template": "noop", **({"dependencies": [f"t{i - 1}"]} if i else {})}
        for i in range(steps)
    ]
    return _workflow("chain", tasks)


def fan_workflow(chains: int, length: int) -> Workflow:
    tasks: list[dict[str, Any]] = [{"name": "root", "template": "noop"}]
    for c in range(chains):
        for i in range(length):
            dep = f"c{c}-{i - 1}" if i else "root"
            tasks.append({"name": f"c{c}-{i}", "template": "noop", "dependencies": [dep]})
    tasks.append(
        {
            "name": "fanin",
            "template": "noop",
            "dependencies": [f"c{c}-{length - 1}" for c in range(chains)],
        }
    )
    return _workflow("fan", tasks)


def _engine(home: Path, runner: Runner, db_url: str | None = None) -> tuple[Engine, MetadataStore]:
    settings = Settings(home=home, db_url=db_url)
    metadata = MetadataStore(settings.database_url)
    engine = Engine(
        metadata,
        open_store(settings.artifact_location),
        runner,
        work_root=settings.work_root,
        poll_interval=settings.poll_interval,
    )
    return engine, metadata


def _run(
    home: Path, runner: Runner, workflow: Workflow, db_url: str | None = None
) -> tuple[float, float, str, int, int]:
    """(validate s, submit+execute s, final phase, node_events rows, node count)."""
    t0 = time.perf_counter()
    problems = validate_workflow(workflow, {})
    t1 = time.perf_counter()
    assert not problems, problems  # a broken bench workflow, not a measurement
    engine, metadata = _engine(home, runner, db_url)
    t2 = time.perf_counter()
    record = engine.submit(workflow)
    final = engine.execute(record.id)
    wall = time.perf_counter() - t2
    events = len(metadata.node_events(record.id))
    nodes = len(metadata.load_state(record.id).nodes)
    metadata.close()
    return t1 - t0, wall, final.phase.value, events, nodes


def bare_spawn(count: int) -> float:
    """Seconds for `count` serial subprocess.run(["true"])."""
    start = time.perf_counter()
    for _ in range(count):
        subprocess.run(["true"], check=False)
    return time.perf_counter() - start


def scratch_parent(explicit: Path | None) -> Path | None:
    """Where the temp homes go: `--dir`, else $TMPDIR if set, else beside the engine's home."""
    if explicit is not None:
        return explicit
    if os.environ.get("TMPDIR"):
        return None  # tempfile's choice, which honours TMPDIR
    parent = Settings().home.parent
    return parent if parent.is_dir() else None


def inode_cost_ms(directory: Path, count: int = 50) -> tuple[float, float]:
    """Mean ms to create a directory and an empty file in `directory` (they are removed after)."""
    with tempfile.TemporaryDirectory(prefix="kp-bench-probe-", dir=directory) as tmp:
        start = time.perf_counter()
        for i in range(count):
            os.mkdir(f"{tmp}/d{i}")
        made_dirs = time.perf_counter()
        for i in range(count):
            os.close(os.open(f"{tmp}/f{i}", os.O_WRONLY | os.O_CREAT, 0o644))
        made_files = time.perf_counter()
    return (made_dirs - start) / count * 1000, (made_files - made_dirs) / count * 1000


def bench_chain(
    steps: int, isolation: Literal["auto", "overlay", "pathmap"], parent: Path | None
) -> None:
    runner = LocalRunner(LocalRunnerSettings(isolation=isolation))
    with tempfile.TemporaryDirectory(prefix="kp-bench-chain-", dir=parent) as tmp:
        mkdir_ms, create_ms = inode_cost_ms(Path(tmp))
        validate_s, wall, phase, events, _ = _run(Path(tmp), runner, chain_workflow(steps))
        runner.close()  # inside: it removes the sandboxes it prepared ahead in the run's dir
        where = Path(tmp).parent
    bare = bare_spawn(steps)
    per_step_ms = (wall - bare) / steps * 1000
    print(
        f"[1] per-step overhead: {steps}-step chain, LocalRunner isolation={isolation} -> "
        f"{runner.isolation} ({runner.isolation_reason})"
    )
    print(
        f"    home in              {where}/kp-bench-chain-*: mkdir {mkdir_ms:.2f} ms, "
        f"file create {create_ms:.2f} ms there"
    )
    print(f"    run phase            {phase}, {events} node events")
    print(f"    validate             {validate_s * 1000:.1f} ms (not in wall)")
    print(f"    wall (submit+exec)   {wall:.3f} s  = {wall / steps * 1000:.2f} ms/step")
    print(f"    bare spawn x{steps:<7} {bare:.3f} s  = {bare / steps * 1000:.2f} ms/spawn")
    print(
        f"    overhead per step    {per_step_ms:.2f} ms   (target <= {TARGET_STEP_MS:g} ms: "
        f"{'met' if per_step_ms <= TARGET_STEP_MS else 'MISSED'})"
    )


def _peak_rss_mb() -> float:
    """Peak RSS: VmHWM (reset before the measurement) or, failing that, ru_maxrss (KiB on Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # Linux >= 4.0: reset VmHWM to current RSS
        return True
    except OSError:
        return False


def bench_dag(chains: int, length: int, parent: Path | None, db_url: str | None = None) -> float:
    """Returns transitions per second; `db_url` runs on that database instead of SQLite."""
    gc.collect()
    reset = _reset_peak_rss()
    before = _peak_rss_mb()
    with tempfile.TemporaryDirectory(prefix="kp-bench-dag-", dir=parent) as tmp:
        validate_s, wall, phase, events, nodes = _run(
            Path(tmp), InstantRunner(), fan_workflow(chains, length), db_url
        )
    peak = _peak_rss_mb()
    rate = events / wall
    database = "PostgreSQL" if db_url else "SQLite"
    print(
        f"[2] scale: root -> {chains} chains x {length} -> fan-in ({chains * length + 2} tasks), "
        f"InstantRunner (in-process, no isolation), {database}"
    )
    print(f"    run phase            {phase}, {nodes} nodes, {events} node events (transitions)")
    print(f"    validate             {validate_s:.3f} s (not in wall)")
    print(f"    wall (submit+exec)   {wall:.2f} s")
    print(
        f"    transitions/s        {rate:,.0f}   (target >= {TARGET_TRANSITIONS_PER_S:,.0f}: "
        f"{'met' if rate >= TARGET_TRANSITIONS_PER_S else 'MISSED'})"
    )
    print(
        f"    peak RSS             {peak:.0f} MB (RSS at start {before:.0f} MB"
        f"{'' if reset else ', peak not reset: includes earlier work'})   "
        f"(target <= {TARGET_RSS_MB:g} MB: {'met' if peak <= TARGET_RSS_MB else 'MISSED'})"
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 steps, 10 x 10 DAG")
    parser.add_argument("--only", choices=("chain", "dag"), help="run one measurement")
    parser.add_argument("--steps", type=int, help="chain length (default 200)")
    parser.add_argument(
        "--isolation",
        choices=("auto", "overlay", "pathmap"),
        default="auto",
        help="LocalRunner isolation for the chain (default auto, as the CLI)",
    )
    parser.add_argument("--chains", type=int, help="parallel chains (default 100)")
    parser.add_argument("--length", type=int, help="tasks per chain (default 100)")
    parser.add_argument(
        "--dir",
        type=Path,
        help="make the temp homes here (default: $TMPDIR if set, else beside the engine's home)",
    )
    parser.add_argument(
        "--postgres",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
        help="also run the DAG on this PostgreSQL server ('' to skip)",
    )
    args = parser.parse_args()
    steps = args.steps or (50 if args.quick else 200)
    chains = args.chains or (10 if args.quick else 100)
    length = args.length or (10 if args.quick else 100)
    print(f"python {sys.version.split()[0]}, {sys.platform}")
    parent = scratch_parent(args.dir)
    if args.only in (None, "chain"):
        bench_chain(steps, args.isolation, parent)
    if args.only in (None, "dag"):
        sqlite_rate = bench_dag(chains, length, parent)
        if args.postgres:
            try:
                with throwaway_schema(args.postgres, prefix="kp_bench") as url:
                    pg_rate = bench_dag(chains, length, parent, url)
                print(f"    PostgreSQL / SQLite  {pg_rate / sqlite_rate:.2f}x")
            except PostgresUnreachable as exc:
                print(f"[2] {exc}; skipped")


if __name__ == "__main__":
    main()
