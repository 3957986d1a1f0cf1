"""Wide runs under `kubepipe up`: do they finish within the machine's limits, does the API answer?

A real `kubepipe up` (API, dashboard, engine worker, scheduler in one process) is started on
127.0.0.1 with a fresh home and the open-file limit it inherits. Three runs are submitted
through the API, one after another:

1. **wide DAG**: one DAG of W independent tasks (default 10,000), each a container running
   `true` on the local runner.
2. **withItems**: one step fanned out over N items (default 100,000), each running `true`.
3. **stop**: a withSequence of N items, each `sleep 60`; after a few seconds of running, a stop
   request through the API; reported: how long until the run is finished.

While a run executes, the benchmark asks `/healthz` and the runs list every 0.1 s and samples
the server's open descriptors (`/proc/PID/fd`) and RSS. Reported per run: wall time, final
phase, peak descriptors (and the limit), peak RSS and RSS once the run is over, API latency
p50/p99/max, and how many API answers were 5xx or failed to connect. It prints figures and
asserts nothing.

`python bench/wide_runs.py [--width W] [--items N] [--only dag|items|stop] [--dir DIR]
[--max-running-steps K]`. `--quick` is W=500, N=2,000.

What a figure means depends on the machine: the steps are real processes (in an overlay
sandbox when run as root), so on 2 shared cores the wall time is mostly process start-up and
workdir inodes (see bench/engine_overhead.py for the per-step cost and its causes).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
FINISHED = {"Succeeded", "Failed", "Error"}


def workflow(kind: str, size: int) -> dict[str, Any]:
    step = {"name": "step", "container": {"image": "busybox", "command": ["true"]}}
    if kind == "dag":
        main: dict[str, Any] = {
            "name": "main",
            "dag": {"tasks": [{"name": f"t{i}", "template": "step"} for i in range(size)]},
        }
    elif kind == "items":
        main = {
            "name": "main",
            "steps": [[{"name": "each", "template": "step", "withItems": list(range(size))}]],
        }
    else:
        step = {"name": "step", "container": {"image": "busybox", "command": ["sleep", "60"]}}
        main = {
            "name": "main",
            "steps": [[{"name": "each", "template": "step", "withSequence": {"count": str(size)}}]],
        }
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": f"wide-{kind}-"},
        "spec": {"entrypoint": "main", "templates": [main, step]},
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fd_count(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@dataclass
class Sampler:
    """Polls the API and the server process from a thread while a run executes."""

    client: httpx.Client
    pid: int
    run_id: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0  # 5xx answers and failed requests
    peak_fds: int = 0
    peak_rss: float = 0.0
    phase: str = "Pending"
    finished_at: float | None = None

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.peak_fds = max(self.peak_fds, fd_count(self.pid))
            self.peak_rss = max(self.peak_rss, rss_mb(self.pid))
            for path in ("/healthz", "/api/v1/runs?page_size=5"):
                started = time.perf_counter()
                try:
                    response = self.client.get(path, timeout=30)
                except httpx.HTTPError:
                    self.errors += 1
                    continue
                self.latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code >= 500:
                    self.errors += 1
                elif path.startswith("/api"):
                    for run in response.json()["runs"]:
                        if run["id"] == self.run_id:
                            self.phase = run["phase"]
            if self.phase in FINISHED and self.finished_at is None:
                self.finished_at = time.monotonic()
                return
            stop.wait(0.1)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def measure(client: httpx.Client, pid: int, kind: str, size: int) -> None:
    body = {"pipeline_yaml": yaml.safe_dump(workflow(kind, size), sort_keys=False)}
    started = time.monotonic()
    created = client.post("/api/v1/runs", json=body, timeout=300)
    created.raise_for_status()
    sampler = Sampler(client, pid, created.json()["id"])
    stop = threading.Event()
    thread = threading.Thread(target=sampler.run, args=(stop,), daemon=True)
    thread.start()
    stop_sent = None
    if kind == "stop":
        time.sleep(5)
        stop_sent = time.monotonic()
        client.post(f"/api/v1/runs/{sampler.run_id}/stop", timeout=30).raise_for_status()
    thread.join()
    wall = (sampler.finished_at or time.monotonic()) - started
    time.sleep(5)
    after = rss_mb(pid)
    label = {"dag": f"{size:,}-wide DAG", "items": f"{size:,}-item withItems"}.get(
        kind, f"stop of a {size:,}-item withSequence"
    )
    print(f"{label}: {sampler.phase} in {wall:.1f} s")
    if stop_sent is not None:
        print(f"  stop request to finished run: {(sampler.finished_at or 0) - stop_sent:.2f} s")
    fd_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    latencies = sampler.latencies
    print(
        f"  server: peak {sampler.peak_fds} open fds (limit {fd_limit}), "
        f"peak RSS {sampler.peak_rss:.0f} MB, {after:.0f} MB 5 s after the run"
    )
    print(
        f"  API during the run: {len(latencies)} requests, p50 {pct(latencies, 50):.1f} ms, "
        f"p99 {pct(latencies, 99):.1f} ms, max {max(latencies, default=0):.1f} ms, "
        f"{sampler.errors} errors (5xx or no answer)"
    )
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="W=500, N=2,000")
    parser.add_argument("--only", choices=["dag", "items", "stop"], action="append")
    parser.add_argument("--max-running-steps", type=int, default=None)
    parser.add_argument("--dir", default=None, help="where the temporary home goes")
    args = parser.parse_args()
    width, items = (500, 2_000) if args.quick else (args.width, args.items)
    base_dir = args.dir or os.environ.get("TMPDIR") or str(
        Path(os.environ.get("KUBEPIPE_HOME", Path.home() / ".kubepipe")).parent
    )
    home = Path(tempfile.mkdtemp(prefix="kubepipe-wide-", dir=base_dir))
    port = free_port()
    env = {**os.environ, "KUBEPIPE_HOME": str(home), "PYTHONPATH": str(ROOT)}
    for name in ("KUBEPIPE_DB_URL", "KUBEPIPE_ARTIFACT_ROOT"):
        env.pop(name, None)
    command = [sys.executable, "-m", "engine", "up", "--port", str(port)]
    if args.max_running_steps:
        command += ["--max-running-steps", str(args.max_running_steps)]
    log = (home / "up.log").open("w")
    server = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if client.get("/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit((home / "up.log").read_text())
            time.sleep(0.1)
        limit_line = next(
            (line for line in (home / "up.log").read_text().splitlines() if "at once" in line), ""
        )
        print(f"kubepipe up at {client.base_url}, home {home}; {limit_line.strip()}")
        print(f"idle server: {fd_count(server.pid)} fds, {rss_mb(server.pid):.0f} MB RSS")
        for kind in args.only or ["dag", "items", "stop"]:
            measure(client, server.pid, kind, width if kind == "dag" else items)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
