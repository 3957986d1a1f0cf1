"""A Katib Experiment whose engine is killed with SIGKILL mid-experiment: a restarted
`kubepipe engine --until-idle` finishes it with exactly maxTrialCount trials, no assignment
handed out twice, and every trial's process run once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from e2e_support import ROOT

from engine.metadata.store import MetadataStore

MAX_TRIALS = 6


def _workflow(ledger: Path) -> str:
    code = (
        "import sys, time\n"
        "x, y = sys.argv[1], sys.argv[2]\n"
        f"open({str(ledger)!r}, 'a').write(f'{{x}},{{y}}\\n')\n"
        "time.sleep(0.6)\n"
        "print(f'loss={(float(x) - 1) ** 2 + (float(y) - 2) ** 2}')\n"
    )
    experiment = {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": "resume"},
        "spec": {
            "objective": {"type": "minimize", "objectiveMetricName": "loss"},
            "algorithm": {
                "algorithmName": "tpe",
                "algorithmSettings": [{"name": "random_state", "value": "9"}],
            },
            "parallelTrialCount": 2,
            "maxTrialCount": MAX_TRIALS,
            "parameters": [
                {
                    "name": "x",
                    "parameterType": "double",
                    "feasibleSpace": {"min": "-3", "max": "3"},
                },
                {
                    "name": "y",
                    "parameterType": "double",
                    "feasibleSpace": {"min": "-3", "max": "3"},
                },
            ],
            "trialTemplate": {
                "primaryContainerName": "main",
                "trialParameters": [
                    {"name": "x", "reference": "x"},
                    {"name": "y", "reference": "y"},
                ],
                "trialSpec": {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "spec": {
                        "template": {
                            "spec": {
                                "restartPolicy": "Never",
                                "containers": [
                                    {
                                        "name": "main",
                                        "image": "python:3.11",
                                        "command": [
                                            sys.executable,
                                            "-c",
                                            code,
                                            "${trialParameters.x}",
                                            "${trialParameters.y}",
                                        ],
                                    }
                                ],
                            }
                        }
                    },
                },
            },
        },
    }
    workflow = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "katib-resume-"},
        "spec": {
            "entrypoint": "tune",
            "templates": [
                {
                    "name": "tune",
                    "resource": {
                        "action": "create",
                        "manifest": yaml.safe_dump(experiment, sort_keys=False),
                    },
                }
            ],
        },
    }
    return yaml.safe_dump(workflow, sort_keys=False)


@pytest.fixture
def ledger_dir() -> Iterator[Path]:
    """Outside /tmp: a path-mapped step's /tmp is its own, and the ledger must be the host's."""
    if not os.path.isdir("/dev/shm"):
        pytest.skip("needs /dev/shm for a host ledger that steps can append to")
    with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="kubepipe-katib-") as path:
        yield Path(path)


def _env(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "KUBEPIPE_HOME": str(home),
        "KUBEPIPE_LEASE_SECONDS": "1",
        "KUBEPIPE_POLL_INTERVAL": "0.05",
        "KUBEPIPE_ISOLATION": "pathmap",
    }


def _cli(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "engine", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _trial_count(store: MetadataStore, run_id: str) -> int:
    return sum(1 for n in store.load_state(run_id).nodes.values() if n.type.value == "Trial")


def test_a_killed_engine_resumes_the_experiment_exactly(tmp_path: Path, ledger_dir: Path) -> None:
    home = tmp_path / "home"
    ledger = ledger_dir / "ledger.log"
    path = tmp_path / "wf.yaml"
    path.write_text(_workflow(ledger))
    env = _env(home)
    submit = _cli(env, "run", str(path), "--detach")
    out, err = submit.communicate(timeout=60)
    assert submit.returncode == 0, err
    run_id = out.strip()
    store = MetadataStore(f"sqlite:///{home / 'kubepipe.db'}")
    for trials_seen, extra in ((1, 0.1), (3, 0.3)):  # kill once trials exist, mid-trial
        engine = _cli(env, "engine")
        deadline = time.monotonic() + 60
        while _trial_count(store, run_id) < trials_seen and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(extra)
        os.kill(engine.pid, signal.SIGKILL)
        engine.communicate(timeout=10)
        time.sleep(1.1)  # let the dead engine's lease expire
    before = store.load_state(run_id)
    started = [n for n in before.nodes.values() if n.type.value == "Trial"]
    assert not before.run.phase.is_finished and 0 < len(started) < MAX_TRIALS  # killed mid-way
    last = _cli(env, "engine", "--until-idle")
    _, err = last.communicate(timeout=120)
    assert last.returncode == 0, err
    state = store.load_state(run_id)
    assert state.run.phase.value == "Succeeded", state.run.message
    trials = [n for n in state.nodes.values() if n.type.value == "Trial"]
    assert len(trials) == MAX_TRIALS
    assignments = [(t.inputs["parameters"]["x"], t.inputs["parameters"]["y"]) for t in trials]
    assert len(set(assignments)) == MAX_TRIALS, assignments
    assert len({t.display_name for t in trials}) == MAX_TRIALS
    assert all(t.phase.value == "Succeeded" for t in trials), [t.message for t in trials]
    status = next(n for n in state.nodes.values() if "resource" in n.extra).extra["resource"][
        "status"
    ]
    assert status["trials"] == status["trialsSucceeded"] == MAX_TRIALS
    assert [c["reason"] for c in status["conditions"]][-1] == "ExperimentMaxTrialsReached"
    ran = [tuple(line.split(",")) for line in ledger.read_text().splitlines()]
    assert sorted(ran) == sorted(assignments)  # each trial's process ran exactly once
