"""Katib as a component: hyperparameter-tuning Experiments whose trials are pipeline steps.

An `Experiment` (`kubeflow.org/v1beta1`) rides in an Argo `resource` template; on the embedded
engine `ExperimentController` runs it (registered through the `kubepipe.controllers` entry
point), on a cluster Katib does. `load_experiment` validates a manifest; `suggest` is the one
suggestion function every algorithm implements.

In a `@dsl.pipeline`, `from components import katib` then `katib.tune(objective=...,
parameters={"lr": katib.search.double(1e-4, 1e-1, log=True)}, ...)` (see `tune`). Those two are
loaded on first use, so the engine, which loads this package for its controller, never imports
the DSL. A trial of a Push-collector experiment calls `report_metrics({"loss": 0.1})`.
"""

from typing import Any

from components.katib.conditions import EndReason, TrialCondition
from components.katib.errors import (
    ExperimentSpecError,
    KatibError,
    SuggestionError,
    UnsupportedFeature,
)
from components.katib.report import report_metrics
from components.katib.spec import Experiment, ExperimentSpec, load_experiment, parse_experiment
from components.katib.support import check_runnable

__all__ = [
    "EndReason",
    "Experiment",
    "ExperimentSpec",
    "ExperimentSpecError",
    "KatibError",
    "SuggestionError",
    "TrialCondition",
    "UnsupportedFeature",
    "check_runnable",
    "load_experiment",
    "parse_experiment",
    "report_metrics",
    "search",
    "tune",
]


def __getattr__(name: str) -> Any:
    """`katib.tune` and `katib.search`, imported from `components.katib.tuning` when first used."""
    if name in ("tune", "search", "SearchSpace"):
        from components.katib import tuning as module

        return getattr(module, name)
    raise AttributeError(f"module 'components.katib' has no attribute {name!r}")
