"""What the local Experiment controller can run, checked before any trial starts.

Parsing (`spec.py`) accepts every valid Katib Experiment; this module rejects, with the field and
the reason, the parts that need a cluster or another operator: non-Job trial kinds, ConfigMap
trial templates, sidecar collectors, NAS, normal/logNormal under algorithms that cannot draw
from them.
"""

from __future__ import annotations

from components.katib.errors import ExperimentSpecError, UnsupportedFeature
from components.katib.prometheus import metrics_url
from components.katib.settings import (
    AlgorithmName,
    algorithm_settings,
    early_stopping_settings,
)
from components.katib.spec import (
    CollectorKind,
    Distribution,
    Experiment,
    FileSystemKind,
    ParameterType,
)
from components.katib.template import placeholders, primary_container

__all__ = ["JOB_CONDITIONS", "check_runnable"]

# Katib's default GJSON conditions for a Job trial; the local Job controller decides the same.
JOB_CONDITIONS = {
    "success": 'status.conditions.#(type=="Complete")#|#(status=="True")#',
    "failure": 'status.conditions.#(type=="Failed")#|#(status=="True")#',
}

# Algorithms that cannot draw from normal/logNormal, and why. The others search the parameter's
# quantile and map it through Katib's normal (suggest/space.py from_quantile).
_NO_NORMAL = {
    AlgorithmName.GRID: "a grid enumerates values evenly (Katib's optuna grid refuses it too)",
    AlgorithmName.HYPERBAND: "its configurations are uniform draws (Katib's hyperband ignores it)",
}

_COLLECTORS = {
    CollectorKind.TENSORFLOW_EVENT: "TensorFlow event files need a tfevent reader",
    CollectorKind.CUSTOM: "a custom collector is a sidecar image",
}


def check_runnable(exp: Experiment) -> None:
    """Raise the first reason the local controller cannot run `exp`; return when it can."""
    spec = exp.spec
    name, _ = algorithm_settings(spec)
    early_stopping_settings(spec)
    if spec.nas_config is not None:
        raise UnsupportedFeature(
            "neural-architecture search (nasConfig) is not supported locally", "spec.nasConfig"
        )
    for i, p in enumerate(spec.parameters):
        where = f"spec.parameters[{i}].feasibleSpace.distribution"
        if p.distribution in (Distribution.NORMAL, Distribution.LOG_NORMAL) and name in _NO_NORMAL:
            raise UnsupportedFeature(
                f"distribution {p.distribution.value!r} of {p.name!r} is not supported by "
                f"algorithm {name.value!r}: {_NO_NORMAL[name]}; use uniform or logUniform, or "
                "random, tpe, multivariate-tpe, cmaes, sobol or bayesianoptimization",
                where,
            )
        # A log scale has no even step (optuna's log distributions refuse one); an int's step 1
        # is just "integers".
        if (
            p.distribution is Distribution.LOG_UNIFORM
            and p.step is not None
            and not (p.parameter_type is ParameterType.INT and p.step == 1)
        ):
            raise UnsupportedFeature(
                f"{p.name!r}: a logUniform {p.parameter_type.value} cannot also have a step "
                f"({p.step:g}); drop one",
                where,
            )
    template = spec.trial_template
    if template.config_map is not None:
        raise UnsupportedFeature(
            "a trial template from a ConfigMap needs a cluster; inline it as trialSpec",
            "spec.trialTemplate.configMap",
        )
    job = template.trial_spec or {}
    if (job.get("apiVersion"), job.get("kind")) != ("batch/v1", "Job"):
        raise UnsupportedFeature(
            f"trials of kind {job.get('apiVersion')}/{job.get('kind')} are not supported by the "
            "local controller; use a batch/v1 Job trialSpec",
            "spec.trialTemplate.trialSpec.kind",
        )
    declared = {tp.name for tp in template.trial_parameters}
    missing = sorted(placeholders(job) - declared)
    if missing:
        raise ExperimentSpecError(
            f"trialSpec uses ${{trialParameters.{missing[0]}}}, which is not declared in "
            "trialTemplate.trialParameters; add it there",
            "spec.trialTemplate.trialSpec",
        )
    for which in ("success", "failure"):
        given = getattr(template, f"{which}_condition")
        if given and given.replace(" ", "") != JOB_CONDITIONS[which]:
            raise UnsupportedFeature(
                f"a custom trial {which}Condition is not supported; the local Job trial uses "
                f"Katib's default {JOB_CONDITIONS[which]!r}",
                f"spec.trialTemplate.{which}Condition",
            )
    try:
        container = primary_container(spec, job)
    except (KeyError, TypeError):
        raise ExperimentSpecError(
            "a Job trialSpec needs spec.template.spec.containers", "spec.trialTemplate.trialSpec"
        ) from None
    collector = spec.metrics_collector_spec
    if collector.kind in _COLLECTORS:
        raise UnsupportedFeature(
            f"metrics collector {collector.kind.value!r} is not supported locally: "
            f"{_COLLECTORS[collector.kind]} (use StdOut, File, Push or PrometheusMetric)",
            "spec.metricsCollectorSpec.collector.kind",
        )
    if collector.kind is CollectorKind.PROMETHEUS:
        metrics_url(spec, container)  # raises naming the httpGet field
        if spec.parallel_trial_count > 1:
            raise UnsupportedFeature(
                "PrometheusMetric trials serve on one fixed port of the shared host network, so "
                f"{spec.parallel_trial_count} parallel trials would collide; set "
                "parallelTrialCount: 1",
                "spec.parallelTrialCount",
            )
    fs = collector.source.file_system_path if collector.source else None
    if (
        collector.kind is CollectorKind.FILE
        and fs is not None
        and fs.kind is FileSystemKind.DIRECTORY
    ):
        raise UnsupportedFeature(
            "a File collector reads one file; fileSystemPath.kind Directory is not supported",
            "spec.metricsCollectorSpec.source.fileSystemPath.kind",
        )
    if name is AlgorithmName.GRID and spec.max_trial_count is not None:
        from components.katib.suggest.grid import grid_size

        size = grid_size(spec)
        if spec.max_trial_count > size:
            raise ExperimentSpecError(
                f"grid has {size} combinations but maxTrialCount is {spec.max_trial_count}; "
                f"lower maxTrialCount to at most {size} or add values",
                "spec.maxTrialCount",
            )
