"""Helpers for the Katib end-to-end tests and `bench/katib.py`: an Experiment manifest whose
trials are Jobs running a Python snippet, the Workflow that creates it, an engine in its own
process (started, killed, restarted), and the trials read back.

It imports only the standard library and PyYAML (no pytest, no `conftest`, nothing of kubepipe
at run time), so the benchmark can import it too, by putting this folder on `sys.path`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from engine.metadata.store import MetadataStore
    from engine.state import NodeRecord, RunState

PY = sys.executable
ROOT = Path(__file__).resolve().parents[2]

# Each search-space parameter's name and its double range [min, max].
XY = {"x": ("-3", "3"), "y": ("-3", "3")}


def experiment(
    name: str,
    algorithm: str,
    code: str,
    *,
    max_trials: int,
    parallel: int = 2,
    settings: dict[str, str] | None = None,
    space: dict[str, tuple[str, str]] = XY,
    resume_policy: str | None = None,
) -> dict[str, Any]:
    """A minimizing Experiment on `loss` over the double parameters in `space`.

    Each trial is a Job running `python -c code` with the trial's values as its arguments, in
    the order of `space`; `code` prints `loss=<value>` (Katib's StdOut format).
    """
    spec: dict[str, Any] = {
        "objective": {"type": "minimize", "objectiveMetricName": "loss"},
        "algorithm": {
            "algorithmName": algorithm,
            "algorithmSettings": [{"name": k, "value": v} for k, v in (settings or {}).items()],
        },
        "parallelTrialCount": parallel,
        "maxTrialCount": max_trials,
    }
    if resume_policy is not None:
        spec["resumePolicy"] = resume_policy
    spec["parameters"] = [
        {"name": n, "parameterType": "double", "feasibleSpace": {"min": low, "max": high}}
        for n, (low, high) in space.items()
    ]
    spec["trialTemplate"] = {
        "primaryContainerName": "main",
        "trialParameters": [{"name": n, "reference": n} for n in space],
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
                                "command": [PY, "-c", code],
                                "args": [f"${{trialParameters.{n}}}" for n in space],
                            }
                        ],
                    }
                }
            },
        },
    }
    return {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": name},
        "spec": spec,
    }


def create_step(
    manifest: dict[str, Any], *, name: str = "tune", outputs: dict[str, str] | None = None
) -> dict[str, Any]:
    """A `resource` template that creates `manifest`, with output parameters read by jsonPath."""
    template: dict[str, Any] = {
        "name": name,
        "resource": {"action": "create", "manifest": yaml.safe_dump(manifest, sort_keys=False)},
    }
    if outputs:
        template["outputs"] = {
            "parameters": [
                {"name": out, "valueFrom": {"jsonPath": path}} for out, path in outputs.items()
            ]
        }
    return template


def workflow(generate_name: str, *templates: dict[str, Any]) -> str:
    """A Workflow's YAML; the first template is the entrypoint."""
    return yaml.safe_dump(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"generateName": generate_name},
            "spec": {"entrypoint": templates[0]["name"], "templates": list(templates)},
        },
        sort_keys=False,
    )


def trials(state: RunState) -> list[NodeRecord]:
    """The run's Trial nodes."""
    return [n for n in state.nodes.values() if n.type.value == "Trial"]


def trials_json(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The Trial nodes of a run as `kubepipe get -o json` prints it."""
    return [n for n in run["nodes"] if n["type"] == "Trial"]


# -- the engine in its own process -------------------------------------------------------------


def engine_env(home: Path) -> dict[str, str]:
    """This process's environment with `home` and a short lease, so a killed engine's runs are
    taken over within about a second."""
    return {
        **os.environ,
        "KUBEPIPE_HOME": str(home),
        "KUBEPIPE_LEASE_SECONDS": "1",
        "KUBEPIPE_POLL_INTERVAL": "0.05",
    }


def kubepipe(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """`kubepipe ARGS...` in a process of its own, its output piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "engine", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def submit(env: dict[str, str], path: Path) -> str:
    """Queue the workflow at `path` (`kubepipe run --detach`); its run id."""
    process = kubepipe(env, "run", str(path), "--detach")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    return out.strip()


def wait_for_trials(store: MetadataStore, run_id: str, count: int, seconds: float = 60) -> None:
    """Until the run has `count` Trial nodes (or `seconds` pass)."""
    deadline = time.monotonic() + seconds
    while len(trials(store.load_state(run_id))) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def kill(engine: subprocess.Popen[str]) -> None:
    """SIGKILL: the engine gets no chance to tidy up, as when its machine dies."""
    os.kill(engine.pid, signal.SIGKILL)
    engine.communicate(timeout=10)
