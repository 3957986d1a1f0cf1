"""An engine killed with SIGKILL at any moment: a restarted worker finishes the run, and every
step's effect happens exactly once.

Each step runs under a shim that records its exit status, so a step that was running (or had
just been launched) when its engine died is re-attached by the next engine, which collects its
real exit code and outputs instead of running it again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import ROOT
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from engine.metadata.store import MetadataStore
from engine.state import RunState

LAYERS, WIDTH = 6, 5  # a 30-node DAG; each node depends on two of the layer before


def _ledger_workflow(ledger: Path) -> str:
    """30 steps that append their name to `ledger` and output it; none may be retried."""
    tasks = []
    for layer in range(LAYERS):
        for j in range(WIDTH):
            name = f"n{layer}x{j}"
            deps = ""
            if layer:
                before = {f"n{layer - 1}x{j}", f"n{layer - 1}x{(j + 1) % WIDTH}"}
                deps = ", depends: " + repr(" && ".join(sorted(before)))
            tasks.append(
                f"      - {{name: {name}, template: step{deps}, "
                f"arguments: {{parameters: [{{name: n, value: {name}}}]}}}}\n"
            )
    return (
        "apiVersion: argoproj.io/v1alpha1\n"
        "kind: Workflow\n"
        "metadata: {generateName: ledger-}\n"
        "spec:\n"
        "  entrypoint: main\n"
        "  templates:\n"
        "  - name: main\n"
        "    dag:\n"
        "      tasks:\n" + "".join(tasks) + "  - name: step\n"
        "    inputs: {parameters: [{name: n}]}\n"
        "    outputs: {parameters: [{name: me, valueFrom: {path: /tmp/me}}]}\n"
        "    container:\n"
        "      image: busybox\n"
        "      command: [sh, -c]\n"
        '      args: ["sleep 0.15; echo {{workflow.name}}/{{inputs.parameters.n}} >> '
        f'{ledger}; echo -n {{{{inputs.parameters.n}}}} > /tmp/me"]\n'
    )


def _engine(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "engine", "engine", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _submit(env: dict[str, str], workflow: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "engine", "run", str(workflow), "--detach"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def _kill(engine: subprocess.Popen[str]) -> None:
    os.kill(engine.pid, signal.SIGKILL)
    engine.communicate(timeout=10)


@pytest.fixture
def ledger_dir() -> Iterator[Path]:
    """Outside /tmp: a path-mapped step's /tmp is its own, and the ledger must be the host's."""
    if not os.path.isdir("/dev/shm"):
        pytest.skip("needs /dev/shm for a host ledger that steps can append to")
    with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="kubepipe-ledger-") as path:
        yield Path(path)


def _env(home: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "KUBEPIPE_HOME": str(home),
        "KUBEPIPE_LEASE_SECONDS": "1",
        "KUBEPIPE_POLL_INTERVAL": "0.05",
        **extra,
    }


def _assert_each_pod_ran_once(store: MetadataStore, state: RunState) -> None:
    events = store.node_events(state.run.id)
    for node in state.nodes.values():
        if node.type.value != "Pod":
            continue
        launches = [e for e in events if e.node_id == node.id and e.to_phase.value == "Running"]
        assert len(launches) == 1, f"{node.name} launched {len(launches)} times"
        assert node.phase.value == "Succeeded", f"{node.name}: {node.phase} {node.message}"


@settings(
    max_examples=4,
    deadline=None,
    phases=[Phase.generate],  # each example is a real run; shrinking would repeat minutes of it
    suppress_health_check=list(HealthCheck),
)
@given(moments=st.lists(st.floats(0.0, 2.0), min_size=5, max_size=5))
def test_steps_run_exactly_once_across_sigkills(
    moments: list[float], home_factory: Iterator[Path], ledger_dir: Path
) -> None:
    """4 runs x 5 kills = 20 random kill moments; each run ends Succeeded, each step once."""
    home = next(home_factory)
    ledger = ledger_dir / f"{home.name}.log"
    workflow = home.parent / f"{home.name}.yaml"
    workflow.write_text(_ledger_workflow(ledger))
    env = _env(home, KUBEPIPE_ISOLATION="pathmap")
    run_id = _submit(env, workflow)
    for moment in moments:
        engine = _engine(env)
        time.sleep(0.5 + moment)  # the worker's start takes about half a second
        _kill(engine)
        time.sleep(1.1)  # let the dead engine's lease expire
    last = _engine(env, "--until-idle")
    _, err = last.communicate(timeout=180)
    assert last.returncode == 0, err
    store = MetadataStore(f"sqlite:///{home / 'kubepipe.db'}")
    try:
        state = store.load_state(run_id)
        assert state.run.phase.value == "Succeeded", state.run.message
        _assert_each_pod_ran_once(store, state)
        entries = Counter(ledger.read_text().split())
        expected = {f"{state.run.name}/n{i}x{j}" for i in range(LAYERS) for j in range(WIDTH)}
        assert set(entries) == expected
        assert [e for e, count in entries.items() if count != 1] == []
        outputs = {
            n.display_name: n.outputs["parameters"]["me"]
            for n in state.nodes.values()
            if n.type.value == "Pod"
        }
        assert outputs == {name: name for name in outputs} and len(outputs) == LAYERS * WIDTH
    finally:
        store.close()


@pytest.fixture
def home_factory(tmp_path: Path) -> Iterator[Path]:
    """A fresh KUBEPIPE_HOME per hypothesis example (function fixtures are shared by them)."""
    return (tmp_path / f"home{i}" for i in range(1000))


CHAIN_STEPS = 12
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
        for i in range(CHAIN_STEPS)
    )
    + """  - name: step
    container: {image: busybox, command: [sh, -c, "sleep 0.3; echo done > /tmp/out"]}
    outputs: {artifacts: [{name: out, path: /tmp/out}]}
"""
)


def test_a_killed_engine_is_replaced_on_the_default_isolation(
    home: Path, cli, tmp_path: Path
) -> None:
    """Kills while steps run (and between their launch and its commit) on overlay where allowed:
    the steps are re-attached and their artifacts collected from their sandboxes."""
    path = tmp_path / "chain.yaml"
    path.write_text(CHAIN)
    env = _env(home)
    run_id = cli("run", str(path), "--detach").stdout.strip()
    store = MetadataStore(f"sqlite:///{home / 'kubepipe.db'}")
    try:
        for moment in (3, 6):  # kill twice, while the chain is part way through
            engine = _engine(env)
            deadline = time.time() + 60
            while time.time() < deadline:
                nodes = store.load_state(run_id).nodes.values()
                done = [n for n in nodes if n.type.value == "Pod" and n.phase.value == "Succeeded"]
                if len(done) >= moment:
                    break
                time.sleep(0.05)
            time.sleep(0.15)  # into the next step's run
            _kill(engine)
            time.sleep(1.1)
        last = _engine(env, "--until-idle")
        _, err = last.communicate(timeout=120)
        assert last.returncode == 0, err
        state = store.load_state(run_id)
        assert state.run.phase.value == "Succeeded", state.run.message
        _assert_each_pod_ran_once(store, state)
        pods = [n for n in state.nodes.values() if n.type.value == "Pod"]
        assert len(pods) == CHAIN_STEPS
        assert all("out" in n.outputs.get("artifacts", {}) for n in pods)
    finally:
        store.close()
