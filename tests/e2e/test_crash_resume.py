"""An engine killed with SIGKILL mid-run: a restarted worker finishes the run without re-running
what had succeeded; a step that was running is re-attached, or retried per its retry strategy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from e2e_support import ROOT

from engine.metadata.store import MetadataStore

STEPS = 12
CHAIN = (
    """apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: crash-}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
"""
    + "".join(
        f"      - {{name: s{i}, template: step{', depends: s' + str(i - 1) if i else ''}}}\n"
        for i in range(STEPS)
    )
    + """  - name: step
    retryStrategy: {limit: 3, retryPolicy: Always}
    container: {image: busybox, command: [sh, -c, "sleep 0.3; echo done"]}
"""
)


def _engine(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "engine", "engine", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_killed_engine_is_replaced_and_the_run_finishes(home: Path, cli, tmp_path: Path) -> None:
    path = tmp_path / "chain.yaml"
    path.write_text(CHAIN)
    env = {
        **os.environ,
        "KUBEPIPE_HOME": str(home),
        "KUBEPIPE_LEASE_SECONDS": "1",
        "KUBEPIPE_POLL_INTERVAL": "0.1",
    }
    run_id = cli("run", str(path), "--detach").stdout.strip()
    store = MetadataStore(f"sqlite:///{home / 'kubepipe.db'}")
    killed_after: list[int] = []
    for moment in (3, 6):  # kill twice, at different points of the chain
        first = _engine(env)
        deadline = time.time() + 60
        while time.time() < deadline:
            done = [
                n
                for n in store.load_state(run_id).nodes.values()
                if n.type.value == "Retry" and n.phase.value == "Succeeded"
            ]
            if len(done) >= moment:
                break
            time.sleep(0.05)
        os.kill(first.pid, signal.SIGKILL)
        first.communicate(timeout=10)
        killed_after.append(len(done))
        time.sleep(1.2)  # let the dead engine's lease expire
    second = _engine(env, "--until-idle")
    _, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    state = store.load_state(run_id)
    assert state.run.phase.value == "Succeeded", state.run.message
    events = store.node_events(run_id)
    for node in state.nodes.values():
        if node.type.value != "Pod":
            continue
        launches = [e for e in events if e.node_id == node.id and e.to_phase.value == "Running"]
        assert len(launches) == 1, f"{node.name} launched {len(launches)} times"
    # Every step succeeded exactly once; an attempt lost in a crash is an Error saying why.
    for i in range(STEPS):
        attempts = sorted(
            (n for n in state.nodes.values() if n.name.startswith(f"{state.run.name}.s{i}(")),
            key=lambda n: n.seq,
        )
        assert [a.phase.value for a in attempts].count("Succeeded") == 1
        for lost in attempts[:-1]:
            assert lost.phase.value == "Error" and "earlier runner" in lost.message
    got = json.loads(cli("get", run_id, "-o", "json").stdout)
    assert got["phase"] == "Succeeded"
    assert killed_after[0] >= 3
    store.close()
