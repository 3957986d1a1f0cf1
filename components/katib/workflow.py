"""`kubepipe run experiment.yaml`: a bare Katib Experiment becomes a one-step Workflow.

On a cluster, `kubectl apply -f experiment.yaml` hands the Experiment to Katib. Locally the same
file runs as what a pipeline author would write by hand: one Argo `resource` template that
creates the Experiment (the local controller runs it) and reads the best trial back with
`jsonPath`, so `kubepipe get` shows the trials and the run's outputs carry the optimum.
The engine finds this through the `kubepipe.manifests` entry point `Experiment.kubeflow.org`.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from components.katib.errors import ExperimentSpecError
from components.katib.spec import parse_experiment
from components.katib.support import check_runnable
from engine.errors import Problem, SpecError

__all__ = ["experiment_workflow"]

_STEP = "experiment"
_OUTPUTS = {
    "best-trial": "{.status.currentOptimalTrial.bestTrialName}",
    "best-parameters": "{.status.currentOptimalTrial.parameterAssignments}",
    "best-objective": "{.status.currentOptimalTrial.observation.metrics[0].latest}",
}


def experiment_workflow(
    doc: dict[str, Any], positions: dict[tuple[Any, ...], tuple[int, int]], source: str
) -> dict[str, Any]:
    """The Workflow manifest that runs `doc`; a SpecError naming the field and line if invalid."""
    try:
        experiment = parse_experiment(doc, source)
        check_runnable(experiment)
    except ExperimentSpecError as exc:
        line, column = positions.get(_path_key(exc.where), (None, None))
        raise SpecError(
            [Problem(exc.reason, path=exc.where, line=line, column=column)], source
        ) from None
    name = experiment.name
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": f"{name}-"},
        "spec": {
            "entrypoint": _STEP,
            "templates": [
                {
                    "name": _STEP,
                    "resource": {
                        "action": "create",
                        "manifest": yaml.safe_dump(doc, sort_keys=False),
                    },
                    "outputs": {
                        "parameters": [
                            {"name": out, "valueFrom": {"jsonPath": path}}
                            for out, path in _OUTPUTS.items()
                        ]
                    },
                }
            ],
        },
    }


def _path_key(where: str) -> tuple[Any, ...]:
    """`spec.parameters[0].feasibleSpace.min` as the loader's position key."""
    key: list[Any] = []
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", where):
        key.append(int(index) if index else name)
    return tuple(key)
