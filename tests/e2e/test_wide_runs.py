"""A DAG wider than the open-file limit allows, under a real `kubepipe up`.

The reproduction: 10,000 independent tasks under `kubepipe up` (limit 20,000 descriptors) ended
~4,800 nodes in Error "Too many open files", and unrelated API calls answered 500. Scaled down:
the server gets a soft RLIMIT_NOFILE of 128 and a DAG of 120 half-second steps, which launched
all at once hold more descriptors than that. With the default running-step limit (derived
from the descriptor limit) every step succeeds and the API answers throughout.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

OPEN_FILES = 128
WIDTH = 120

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _low_fd_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, hard))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    home = tmp_path / "home"
    env = {**os.environ, "KUBEPIPE_HOME": str(home), "KUBEPIPE_POLL_INTERVAL": "0.1"}
    for name in ("KUBEPIPE_DB_URL", "KUBEPIPE_ARTIFACT_ROOT", "KUBEPIPE_MAX_RUNNING_STEPS"):
        env.pop(name, None)
    port = _free_port()
    log_path = tmp_path / "up.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "engine", "up", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_low_fd_limit,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None:
                    break
                time.sleep(0.1)
            else:
                raise AssertionError(log_path.read_text())
            assert process.poll() is None, log_path.read_text()
            yield url, log_path
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def wide_dag() -> str:
    tasks = [{"name": f"t{i}", "template": "nap"} for i in range(WIDTH)]
    return yaml.safe_dump(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"generateName": "wide-"},
            "spec": {
                "entrypoint": "main",
                "templates": [
                    {"name": "main", "dag": {"tasks": tasks}},
                    {"name": "nap", "container": {"image": "busybox", "command": ["sleep", "0.5"]}},
                ],
            },
        }
    )


def test_a_dag_wider_than_the_descriptor_limit_completes_and_the_api_answers(
    server: tuple[str, Path],
) -> None:
    url, log_path = server
    client = httpx.Client(base_url=url, timeout=30)
    created = client.post("/api/v1/runs", json={"pipeline_yaml": wide_dag()})
    run_id = created.raise_for_status().json()["id"]
    answers: list[int] = []
    done = threading.Event()

    def ask() -> None:
        with httpx.Client(base_url=url, timeout=30) as api:
            while not done.is_set():
                for path in ("/healthz", "/api/v1/runs", f"/api/v1/runs/{run_id}"):
                    try:
                        answers.append(api.get(path).status_code)
                    except httpx.TransportError:
                        answers.append(0)
                done.wait(0.05)

    asker = threading.Thread(target=ask)
    asker.start()
    try:
        for _ in range(1200):
            body = client.get(f"/api/v1/runs/{run_id}").json()
            if body["phase"] in ("Succeeded", "Failed", "Error"):
                break
            time.sleep(0.1)
    finally:
        done.set()
        asker.join()
    nodes = body["nodes"]
    errors = sorted({n.get("message", "") for n in nodes if n["phase"] != "Succeeded"})
    assert body["phase"] == "Succeeded", (errors[:5], log_path.read_text()[-2000:])
    assert sum(1 for n in nodes if n["type"] == "Pod") == WIDTH
    assert answers and all(code == 200 for code in answers), sorted(set(answers))
    assert "at most 8 steps run at once" in log_path.read_text()
