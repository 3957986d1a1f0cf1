"""Helpers for the Katib tests: a Branin trial, Experiment manifests, and an engine to run them."""

from __future__ import annotations

import copy
import math
import sys
from pathlib import Path
from typing import Any

import yaml

from engine.cli import load_and_validate
from engine.executor import Engine
from engine.state import NodeRecord, RunState

PY = sys.executable
BRANIN_MIN = 0.397887

# Branin on x in [-5, 10], y in [0, 15]: prints `loss=<value>` (Katib's StdOut format).
BRANIN = (
    "import math, sys\n"
    "x, y = float(sys.argv[1]), float(sys.argv[2])\n"
    "b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)\n"
    "print(f'loss={(y - b*x*x + c*x - 6) ** 2 + 10 * (1 - t) * math.cos(x) + 10:.6f}')\n"
)


def branin(x: float, y: float) -> float:
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (y - b * x * x + c * x - 6) ** 2 + 10 * (1 - t) * math.cos(x) + 10


def experiment(
    algorithm: str = "random",
    settings: dict[str, str] | None = None,
    *,
    code: str = BRANIN,
    args: list[str] | None = None,
    max_trials: int = 4,
    parallel: int = 2,
    max_failed: int | None = 3,
    goal: float | None = None,
    parameters: list[dict[str, Any]] | None = None,
    extra_spec: dict[str, Any] | None = None,
    name: str = "branin",
) -> dict[str, Any]:
    """A Branin Experiment manifest (dict) with a Job trial running `code` with `args`."""
    params = parameters or [
        {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "-5", "max": "10"}},
        {"name": "y", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "15"}},
    ]
    objective: dict[str, Any] = {"type": "minimize", "objectiveMetricName": "loss"}
    if goal is not None:
        objective["goal"] = goal
    spec: dict[str, Any] = {
        "objective": objective,
        "algorithm": {
            "algorithmName": algorithm,
            "algorithmSettings": [{"name": k, "value": v} for k, v in (settings or {}).items()],
        },
        "parallelTrialCount": parallel,
        "maxTrialCount": max_trials,
        "parameters": params,
        "trialTemplate": {
            "primaryContainerName": "training",
            "trialParameters": [{"name": p["name"], "reference": p["name"]} for p in params],
            "trialSpec": {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "spec": {
                    "backoffLimit": 0,
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [
                                {
                                    "name": "training",
                                    "image": "python:3.11",
                                    "command": [PY, "-c", code],
                                    "args": args
                                    if args is not None
                                    else ["${trialParameters.x}", "${trialParameters.y}"],
                                }
                            ],
                        }
                    },
                },
            },
        },
    }
    if max_failed is not None:
        spec["maxFailedTrialCount"] = max_failed
    spec.update(copy.deepcopy(extra_spec or {}))
    return {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": name},
        "spec": spec,
    }


def workflow_file(tmp_path: Path, manifest: dict[str, Any]) -> Path:
    """A one-step Workflow whose resource template creates `manifest`, with jsonPath outputs."""
    template = {
        "name": "tune",
        "resource": {"action": "create", "manifest": yaml.safe_dump(manifest, sort_keys=False)},
        "outputs": {
            "parameters": [
                {
                    "name": "best-trial",
                    "valueFrom": {"jsonPath": "{.status.currentOptimalTrial.bestTrialName}"},
                },
                {
                    "name": "best-loss",
                    "valueFrom": {
                        "jsonPath": "{.status.currentOptimalTrial.observation.metrics[0].latest}",
                        "default": "none",
                    },
                },
            ]
        },
    }
    workflow = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "katib-test-"},
        "spec": {"entrypoint": "tune", "templates": [template]},
    }
    path = tmp_path / f"{manifest['metadata']['name']}.yaml"
    path.write_text(yaml.safe_dump(workflow, sort_keys=False))
    return path


def run(engine: Engine, path: Path) -> RunState:
    workflow, source = load_and_validate(str(path))
    record = engine.submit(workflow, source=source)
    engine.execute(record.id)
    return engine.metadata.load_state(record.id)


def experiment_node(state: RunState) -> NodeRecord:
    return next(n for n in state.nodes.values() if n.template_name == "tune")


def trials(state: RunState) -> list[NodeRecord]:
    return [n for n in state.nodes.values() if n.type.value == "Trial"]
