"""API benchmark (issue 6): p50/p99 latency of the runs list and of one big run over HTTP.

With 100,000 runs in the database (bulk-inserted in SQL, not executed), a real uvicorn server
started by this script serves three cases, each driven by a bounded load generator on
127.0.0.1 (a fixed pool of threads sharing one keep-alive httpx client):

    first page      GET /api/v1/runs?page_size=50
    500th page      GET /api/v1/runs?page_size=50&page=500
    1,000-node run  GET /api/v1/runs/{id}

on SQLite (a temp dir) and on PostgreSQL (127.0.0.1:5432, user postgres, database `test`, in a
throwaway schema that is dropped afterwards). It prints the figures next to the targets
(p99 <= 50 ms for list pages, <= 100 ms for the 1,000-node run) and asserts nothing.

    python bench/api.py                 # 100,000 runs, both databases
    python bench/api.py --quick         # 10,000 runs, fewer requests
    python bench/api.py --db sqlite --requests 1000 --concurrency 8

The server runs in a child process (`--serve`), so the load generator's threads never share a
GIL with the request handlers they time.
"""

from __future__ import annotations

import argparse
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from engine.metadata.store import MetadataStore  # noqa: E402
from engine.metadata.tables import RunRow  # noqa: E402
from engine.metadata.testing import throwaway_schema
from engine.phases import NodePhase, NodeType, RunPhase  # noqa: E402
from engine.state import RunRecord  # noqa: E402

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PAGE_SIZE = 50
DEEP_PAGE = 500
LIST_TARGET_MS = 50.0
RUN_TARGET_MS = 100.0
NAMESPACES = ["default"] * 8 + ["team-a", "team-b"]
FINISHED = [RunPhase.SUCCEEDED] * 6 + [RunPhase.FAILED, RunPhase.ERROR]
MANIFEST = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"generateName": "bench-"},
    "spec": {
        "entrypoint": "main",
        "templates": [{"name": "main", "container": {"image": "busybox", "command": ["true"]}}],
    },
}


# -- the database -------------------------------------------------------------------------------
@contextmanager
def database(kind: str, home: Path) -> Iterator[str]:
    """A fresh database URL: a SQLite file under `home`, or a PostgreSQL schema dropped after."""
    if kind == "sqlite":
        yield f"sqlite:///{home / 'kubepipe.db'}"
        return
    with throwaway_schema(PG_URL, prefix="kp_bench") as url:
        yield url


def fill(url: str, runs: int) -> str:
    """`runs` finished/queued runs in bulk SQL plus one 1,000-node run; returns the big run's id.

    Rows go in with executemany in batches (what `MetadataStore.commit` does for nodes); going
    through the engine would spend the whole benchmark's time creating the data.
    """
    store = MetadataStore(url)  # creates the schema at the current version (with its indexes)
    rng = random.Random(6)
    start = time.time() - runs * 60.0
    batch: list[dict[str, object]] = []
    with store._engine.begin() as conn:
        for i in range(runs):
            created = start + i * 60.0 + rng.random()
            queued = i >= runs - 20  # the newest few are still waiting for an engine
            phase = RunPhase.PENDING if queued else rng.choice(FINISHED)
            batch.append(
                {
                    "id": uuid.uuid4().hex[:12],
                    "name": f"bench-{i:06d}",
                    "namespace": rng.choice(NAMESPACES),
                    "uid": str(uuid.uuid4()),
                    "phase": phase.value,
                    "message": "" if phase is not RunPhase.FAILED else "step train failed",
                    "created_at": created,
                    "started_at": None if queued else created + 1.0,
                    "finished_at": None if queued else created + 30.0 + rng.random() * 60,
                    "source": "bench.yaml",
                    "manifest": MANIFEST,
                    "parameters": {"lr": "0.01"},
                    "outputs": {},
                }
            )
            if len(batch) == 5_000:
                conn.execute(insert(RunRow), batch)
                batch.clear()
        if batch:
            conn.execute(insert(RunRow), batch)
    big = big_run(store, start - 3600.0)  # old, so it is on neither page: only GET finds it
    with store._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # Fresh statistics, and on PostgreSQL a visibility map so index-only scans are possible:
        # what autovacuum would have done to a database that grew to this size over time.
        conn.execute(
            text("VACUUM ANALYZE" if store._engine.dialect.name != "sqlite" else "ANALYZE")
        )
    store.close()
    return big


def big_run(store: MetadataStore, created: float) -> str:
    """A Succeeded 1,000-node run (a DAG over 999 pods), written in one commit as the engine
    would: nodes with inputs/outputs, every transition event."""
    run = RunRecord(
        id=uuid.uuid4().hex[:12],
        name="bench-big",
        uid=str(uuid.uuid4()),
        namespace="default",
        phase=RunPhase.SUCCEEDED,
        created_at=created,
        manifest=MANIFEST,
        started_at=created + 1.0,
        finished_at=created + 600.0,
    )
    store.create_run(run)
    state = store.load_state(run.id)
    root = state.create("bench-big", "bench-big", NodeType.DAG, template_name="main")
    state.transition(root, NodePhase.RUNNING)
    for i in range(999):
        node = state.create(
            f"bench-big.step-{i}",
            f"step-{i}",
            NodeType.POD,
            template_name="work",
            boundary_id=root.id,
            parent=root,
            inputs={"parameters": {"shard": str(i), "lr": "0.01"}},
        )
        state.transition(node, NodePhase.RUNNING)
        node.exit_code = 0
        node.outputs = {
            "parameters": {"loss": f"{0.5 / (i + 1):.6f}"},
            "artifacts": {"model": {"key": f"{run.id}/step-{i}/model.tgz"}},
            "result": "ok",
        }
        state.transition(node, NodePhase.SUCCEEDED, "exit 0")
    state.transition(root, NodePhase.SUCCEEDED)
    store.commit(state)
    return run.id


# -- the server ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(url: str, home: str, port: int) -> None:
    """The child process: the real app on uvicorn, one worker, no access log."""
    import uvicorn

    from engine.settings import Settings
    from server import ServerSettings, create_app

    settings = ServerSettings(engine=Settings(home=Path(home), db_url=url))
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning")


@contextmanager
def server(url: str, home: Path) -> Iterator[str]:
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", url, "--home", str(home), "--port", str(port)]
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if child.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the API server did not start (exit code {child.poll()})")
            time.sleep(0.1)
        yield base
    finally:
        child.terminate()
        child.wait(timeout=30)


# -- the load generator -------------------------------------------------------------------------
def load(
    client: httpx.Client, path: str, requests: int, concurrency: int, check: Callable[[dict], None]
) -> list[float]:
    """Latencies (ms) of `requests` GETs of `path`, at most `concurrency` in flight."""
    for _ in range(max(5, concurrency)):  # warm caches and connections; not timed
        check(client.get(path).raise_for_status().json())
    latencies: list[float] = []
    lock = threading.Lock()

    def one(_: int) -> None:
        t0 = time.perf_counter()
        response = client.get(path)
        elapsed = (time.perf_counter() - t0) * 1000
        response.raise_for_status()
        with lock:
            latencies.append(elapsed)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, range(requests)))
    check(client.get(path).json())
    return latencies


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def bench(kind: str, runs: int, requests: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory(prefix="kp-bench-api-") as tmp:
        home = Path(tmp)
        with database(kind, home) as url:
            t0 = time.perf_counter()
            big = fill(url, runs)
            print(
                f"\n{kind}: {runs:,} runs + one 1,000-node run in {time.perf_counter() - t0:.1f} s"
            )
            with server(url, home) as base:
                limits = httpx.Limits(max_connections=concurrency)
                with httpx.Client(base_url=base, limits=limits, timeout=30) as client:

                    def page_of(n: int) -> Callable[[dict], None]:
                        def check(body: dict) -> None:
                            assert body["total_size"] == runs + 1 and len(body["runs"]) == PAGE_SIZE
                            assert body["page"] == n

                        return check

                    def whole(body: dict) -> None:
                        assert len(body["nodes"]) == 1000 and body["phase"] == "Succeeded"

                    deep = min(DEEP_PAGE, runs // PAGE_SIZE)  # --quick: the last full page
                    cases = [
                        ("runs list, page 1", f"/api/v1/runs?page_size={PAGE_SIZE}", page_of(1),
                         LIST_TARGET_MS),
                        (f"runs list, page {deep}",
                         f"/api/v1/runs?page_size={PAGE_SIZE}&page={deep}",
                         page_of(deep), LIST_TARGET_MS),
                        ("run with 1,000 nodes", f"/api/v1/runs/{big}", whole, RUN_TARGET_MS),
                    ]  # fmt: skip
                    print(f"{'case':<24}{'p50 ms':>9}{'p99 ms':>9}{'target p99':>12}  n={requests}"
                          f" concurrency={concurrency}")  # fmt: skip
                    for label, path, check, target in cases:
                        ms = load(client, path, requests, concurrency, check)
                        mark = "ok" if pct(ms, 99) <= target else "OVER"
                        print(
                            f"{label:<24}{statistics.median(ms):>9.1f}{pct(ms, 99):>9.1f}"
                            f"{f'<= {target:.0f}':>12}  {mark}"
                        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 runs and 200 requests a case")
    parser.add_argument("--runs", type=int, default=None, help="runs in the database (100,000)")
    parser.add_argument("--requests", type=int, default=None, help="timed requests per case")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=2,
        help="requests in flight at most (2: one per core here)",
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--serve", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.home, args.port)
        return
    runs = args.runs or (10_000 if args.quick else 100_000)
    requests = args.requests or (200 if args.quick else 1_000)
    for kind in ["sqlite", "postgresql"] if args.db == "both" else [args.db]:
        bench(kind, runs, requests, args.concurrency)


if __name__ == "__main__":
    main()
