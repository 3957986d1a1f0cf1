"""Katib as a component: hyperparameter-tuning Experiments whose trials are pipeline steps.

An `Experiment` (`kubeflow.org/v1beta1`) rides in an Argo `resource` template; on the embedded
engine `ExperimentController` runs it (registered through the `kubepipe.controllers` entry
point), on a cluster Katib does. `load_experiment` validates a manifest; `suggest` is the one
suggestion function every algorithm implements.
"""

from components.katib.conditions import EndReason, TrialCondition
from components.katib.errors import (
    ExperimentSpecError,
    KatibError,
    SuggestionError,
    UnsupportedFeature,
)
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
]
