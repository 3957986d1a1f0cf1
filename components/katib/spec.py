"""Katib's `kubeflow.org/v1beta1` Experiment as pydantic models, with Katib's defaults applied.

Field names, string-typed feasible spaces and defaults follow Katib's Go types
(`pkg/apis/controller/experiments/v1beta1/experiment_types.go`, `experiment_defaults.go`), so a
manifest written for a cluster loads here unchanged and `model_dump(by_alias=True)` gives it back
in Katib's spelling. What the webhook would reject (min > max, an empty categorical list, a
missing objective metric name) is rejected here with the field path; what Katib accepts but the
local controller cannot run is checked separately (`components.katib.support`).
"""

from __future__ import annotations

import math
from enum import Enum
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from components.katib.errors import ExperimentSpecError

__all__ = [
    "API_VERSION",
    "DEFAULT_STDOUT_FILTER",
    "Algorithm",
    "AlgorithmSetting",
    "Collector",
    "CollectorKind",
    "Distribution",
    "Experiment",
    "ExperimentSpec",
    "FeasibleSpace",
    "FileFormat",
    "MetricStrategy",
    "MetricStrategyType",
    "MetricsCollectorSpec",
    "Objective",
    "ObjectiveType",
    "Parameter",
    "ParameterType",
    "ResumePolicy",
    "TrialParameter",
    "TrialTemplate",
    "load_experiment",
]

API_VERSION = "kubeflow.org/v1beta1"
KIND = "Experiment"
# Katib's StdOut/TEXT default (pkg/metricscollector/v1beta1/common/const.go DefaultFilter).
DEFAULT_STDOUT_FILTER = r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"
DEFAULT_METRICS_FILE = "/var/log/katib/metrics.log"


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid", use_enum_values=False)

    def dump(self) -> dict[str, Any]:
        """Katib's spelling, without the fields left unset."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class ObjectiveType(str, Enum):
    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"

    def better(self, a: float, b: float) -> bool:
        """True when `a` is strictly better than `b` for this direction."""
        return a < b if self is ObjectiveType.MINIMIZE else a > b


class MetricStrategyType(str, Enum):
    MIN = "min"
    MAX = "max"
    LATEST = "latest"


class MetricStrategy(_Model):
    name: str
    value: MetricStrategyType


class Objective(_Model):
    type: ObjectiveType
    goal: float | None = None
    objective_metric_name: str = Field(alias="objectiveMetricName", min_length=1)
    additional_metric_names: list[str] = Field(default_factory=list, alias="additionalMetricNames")
    metric_strategies: list[MetricStrategy] = Field(default_factory=list, alias="metricStrategies")

    @model_validator(mode="after")
    def _fill_strategies(self) -> Objective:
        """Katib's webhook default: every metric without a strategy gets the objective's min/max."""
        names = [self.objective_metric_name, *self.additional_metric_names]
        if len(set(names)) != len(names):
            raise ValueError(
                "additionalMetricNames must not repeat objectiveMetricName or each other"
            )
        given = {s.name for s in self.metric_strategies}
        unknown = given - set(names)
        if unknown:
            raise ValueError(
                f"metricStrategies name {sorted(unknown)} which are not objectiveMetricName or "
                "additionalMetricNames"
            )
        default = (
            MetricStrategyType.MIN
            if self.type is ObjectiveType.MINIMIZE
            else MetricStrategyType.MAX
        )
        self.metric_strategies += [
            MetricStrategy(name=n, value=default) for n in names if n not in given
        ]
        return self

    @property
    def metric_names(self) -> list[str]:
        return [self.objective_metric_name, *self.additional_metric_names]

    def strategy(self, metric: str) -> MetricStrategyType:
        return next(s.value for s in self.metric_strategies if s.name == metric)


class AlgorithmSetting(_Model):
    name: str
    value: str = ""


class Algorithm(_Model):
    algorithm_name: str = Field(alias="algorithmName", min_length=1)
    algorithm_settings: list[AlgorithmSetting] = Field(
        default_factory=list, alias="algorithmSettings"
    )

    def settings(self) -> dict[str, str]:
        return {s.name: s.value for s in self.algorithm_settings}


class ParameterType(str, Enum):
    DOUBLE = "double"
    INT = "int"
    DISCRETE = "discrete"
    CATEGORICAL = "categorical"


class Distribution(str, Enum):
    UNIFORM = "uniform"
    LOG_UNIFORM = "logUniform"
    NORMAL = "normal"
    LOG_NORMAL = "logNormal"


class FeasibleSpace(_Model):
    min: str | None = None
    max: str | None = None
    step: str | None = None
    list_: list[str] | None = Field(default=None, alias="list")
    distribution: Distribution | None = None


def _number(text: str | None, field: str, integer: bool) -> float | None:
    if text is None or str(text).strip() == "":
        return None
    try:
        value = int(str(text)) if integer else float(str(text))
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise ValueError(f"feasibleSpace.{field} {text!r} is not {kind}") from None
    if not math.isfinite(value):
        raise ValueError(f"feasibleSpace.{field} {text!r} must be finite")
    return value


class Parameter(_Model):
    name: str = Field(min_length=1)
    parameter_type: ParameterType = Field(alias="parameterType")
    feasible_space: FeasibleSpace = Field(alias="feasibleSpace")

    @model_validator(mode="after")
    def _check_space(self) -> Parameter:
        """The webhook's checks: a numeric range with min <= max, or a non-empty list."""
        space = self.feasible_space
        kind = self.parameter_type
        if kind in (ParameterType.DOUBLE, ParameterType.INT):
            integer = kind is ParameterType.INT
            if space.list_:
                raise ValueError(f"a {kind.value} parameter takes min/max, not feasibleSpace.list")
            low = _number(space.min, "min", integer)
            high = _number(space.max, "max", integer)
            if low is None or high is None:
                raise ValueError(f"a {kind.value} parameter needs feasibleSpace.min and .max")
            if low > high:
                raise ValueError(
                    f"feasibleSpace.min ({space.min}) is greater than feasibleSpace.max "
                    f"({space.max}); swap them"
                )
            step = _number(space.step, "step", integer)
            if step is not None and step <= 0:
                raise ValueError(f"feasibleSpace.step ({space.step}) must be positive")
            if space.distribution in (Distribution.LOG_UNIFORM, Distribution.LOG_NORMAL) and (
                low <= 0
            ):
                raise ValueError(
                    f"a {space.distribution.value} distribution needs feasibleSpace.min > 0 "
                    f"(got {space.min})"
                )
        else:
            if space.min is not None or space.max is not None or space.step is not None:
                raise ValueError(
                    f"a {kind.value} parameter takes feasibleSpace.list, not min/max/step"
                )
            if not space.list_:
                raise ValueError(
                    f"a {kind.value} parameter needs a non-empty feasibleSpace.list of values"
                )
            if len(set(space.list_)) != len(space.list_):
                raise ValueError("feasibleSpace.list repeats a value")
            if kind is ParameterType.DISCRETE:
                for item in space.list_:
                    _number(item, "list", integer=False)
        return self

    @property
    def low(self) -> float:
        """The numeric lower bound of a double/int parameter."""
        value = _number(self.feasible_space.min, "min", self.parameter_type is ParameterType.INT)
        assert value is not None, "checked by the validator"
        return value

    @property
    def high(self) -> float:
        value = _number(self.feasible_space.max, "max", self.parameter_type is ParameterType.INT)
        assert value is not None, "checked by the validator"
        return value

    @property
    def step(self) -> float | None:
        return _number(self.feasible_space.step, "step", self.parameter_type is ParameterType.INT)

    @property
    def distribution(self) -> Distribution:
        return self.feasible_space.distribution or Distribution.UNIFORM

    @property
    def choices(self) -> list[str]:
        return list(self.feasible_space.list_ or [])


class TrialParameter(_Model):
    name: str = Field(min_length=1)
    description: str = ""
    reference: str = ""


class ConfigMapSource(_Model):
    config_map_name: str = Field(default="", alias="configMapName")
    config_map_namespace: str = Field(default="", alias="configMapNamespace")
    template_path: str = Field(default="", alias="templatePath")


class TrialTemplate(_Model):
    retain: bool = False
    trial_spec: dict[str, Any] | None = Field(default=None, alias="trialSpec")
    config_map: ConfigMapSource | None = Field(default=None, alias="configMap")
    primary_container_name: str | None = Field(default=None, alias="primaryContainerName")
    primary_pod_labels: dict[str, str] | None = Field(default=None, alias="primaryPodLabels")
    trial_parameters: list[TrialParameter] = Field(default_factory=list, alias="trialParameters")
    success_condition: str | None = Field(default=None, alias="successCondition")
    failure_condition: str | None = Field(default=None, alias="failureCondition")

    @model_validator(mode="after")
    def _one_source(self) -> TrialTemplate:
        if (self.trial_spec is None) == (self.config_map is None):
            raise ValueError("give exactly one of trialSpec or configMap")
        names = [p.name for p in self.trial_parameters]
        if len(set(names)) != len(names):
            raise ValueError("trialParameters repeat a name")
        return self


class CollectorKind(str, Enum):
    STDOUT = "StdOut"
    FILE = "File"
    TENSORFLOW_EVENT = "TensorFlowEvent"
    PROMETHEUS = "PrometheusMetric"
    CUSTOM = "Custom"
    PUSH = "Push"
    NONE = "None"  # Push's name before Katib v0.18 (katib#2369)


class FileFormat(str, Enum):
    TEXT = "TEXT"
    JSON = "JSON"


class FileSystemKind(str, Enum):
    FILE = "File"
    DIRECTORY = "Directory"


class FileSystemPath(_Model):
    path: str = ""
    kind: FileSystemKind = FileSystemKind.FILE
    format: FileFormat = FileFormat.TEXT


class Filter(_Model):
    metrics_format: list[str] = Field(default_factory=list, alias="metricsFormat")


class Source(_Model):
    file_system_path: FileSystemPath | None = Field(default=None, alias="fileSystemPath")
    filter: Filter | None = None
    http_get: dict[str, Any] | None = Field(default=None, alias="httpGet")


class Collector(_Model):
    kind: CollectorKind = CollectorKind.STDOUT
    custom_collector: dict[str, Any] | None = Field(default=None, alias="customCollector")


class MetricsCollectorSpec(_Model):
    source: Source | None = None
    collector: Collector = Field(default_factory=Collector)

    @property
    def kind(self) -> CollectorKind:
        return self.collector.kind

    @property
    def filters(self) -> list[str]:
        """The metric regexes: the user's, else Katib's default."""
        given = self.source.filter.metrics_format if self.source and self.source.filter else []
        return list(given) or [DEFAULT_STDOUT_FILTER]

    @property
    def file_path(self) -> str:
        fs = self.source.file_system_path if self.source else None
        return fs.path if fs is not None and fs.path else DEFAULT_METRICS_FILE

    @property
    def file_format(self) -> FileFormat:
        fs = self.source.file_system_path if self.source else None
        return fs.format if fs is not None else FileFormat.TEXT


class ResumePolicy(str, Enum):
    NEVER = "Never"
    LONG_RUNNING = "LongRunning"
    FROM_VOLUME = "FromVolume"


class ExperimentSpec(_Model):
    parameters: list[Parameter] = Field(default_factory=list)
    objective: Objective
    algorithm: Algorithm
    early_stopping: Algorithm | None = Field(default=None, alias="earlyStopping")
    trial_template: TrialTemplate = Field(alias="trialTemplate")
    parallel_trial_count: int = Field(default=3, alias="parallelTrialCount", ge=1)
    max_trial_count: int | None = Field(default=None, alias="maxTrialCount", ge=1)
    max_failed_trial_count: int | None = Field(default=None, alias="maxFailedTrialCount", ge=0)
    metrics_collector_spec: MetricsCollectorSpec = Field(
        default_factory=MetricsCollectorSpec, alias="metricsCollectorSpec"
    )
    nas_config: dict[str, Any] | None = Field(default=None, alias="nasConfig")
    resume_policy: ResumePolicy = Field(default=ResumePolicy.NEVER, alias="resumePolicy")

    @model_validator(mode="after")
    def _check_references(self) -> ExperimentSpec:
        names = [p.name for p in self.parameters]
        if len(set(names)) != len(names):
            raise ValueError("parameters repeat a name")
        if not self.parameters and self.nas_config is None:
            raise ValueError("an Experiment needs spec.parameters (the search space)")
        for i, tp in enumerate(self.trial_template.trial_parameters):
            ref = tp.reference or tp.name
            if not ref.startswith("${trialSpec.") and ref not in names:
                raise ValueError(
                    f"trialTemplate.trialParameters[{i}] ({tp.name}) references {ref!r}, which "
                    f"is not a parameter (parameters: {', '.join(names)})"
                )
        return self

    def parameter(self, name: str) -> Parameter:
        return next(p for p in self.parameters if p.name == name)


class Experiment(_Model):
    model_config = ConfigDict(populate_by_name=True, extra="allow")

    api_version: str = Field(alias="apiVersion")
    kind: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: ExperimentSpec

    @model_validator(mode="after")
    def _check_kind(self) -> Experiment:
        if (self.api_version, self.kind) != (API_VERSION, KIND):
            raise ValueError(
                f"expected apiVersion {API_VERSION} and kind {KIND}, got "
                f"{self.api_version}/{self.kind}"
            )
        return self

    @property
    def name(self) -> str:
        return str(self.metadata.get("name") or self.metadata.get("generateName") or "experiment")


def _field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in ("function-after",) and not str(part).startswith("function-"):
            out += f".{part}" if out else str(part)
    return out


def parse_experiment(data: Any, source: str = "") -> Experiment:
    """Validate a manifest already read into Python data; errors name the field and the fix."""
    if not isinstance(data, dict):
        raise ExperimentSpecError("an Experiment manifest must be a YAML mapping", "", source)
    try:
        return Experiment.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = _field_path(tuple(first["loc"]))
        message = str(first["msg"]).removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown field (check its spelling against Katib v1beta1)"
        elif first["type"] == "missing":
            message = "required field is missing"
        more = len(exc.errors()) - 1
        if more:
            message += f" (and {more} more problem{'s' if more > 1 else ''})"
        raise ExperimentSpecError(message, where, source) from None


def load_experiment(path_or_text: str | Path) -> Experiment:
    """Read an Experiment from a file (a Path or an existing file name) or from YAML text."""
    if isinstance(path_or_text, Path) or (
        "\n" not in path_or_text and Path(path_or_text).is_file()
    ):
        source = str(path_or_text)
        text = Path(path_or_text).read_text(encoding="utf-8")
    else:
        source, text = "<string>", str(path_or_text)
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise ExperimentSpecError(f"not valid YAML: {exc}", "", source) from None
    if len(docs) != 1:
        raise ExperimentSpecError(
            f"expected one YAML document holding an Experiment, found {len(docs)}", "", source
        )
    return parse_experiment(docs[0], source)
