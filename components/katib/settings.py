"""Algorithm settings, validated per algorithm as Katib's suggestion services do.

Katib passes `algorithmSettings` as strings to the suggestion service's
`ValidateAlgorithmSettings`, which rejects unknown names and bad values; here each algorithm has
a pydantic model of the settings it takes (names as Katib spells them), so a typo or a value out
of range is an error naming the setting, the algorithm and what it accepts, before any trial runs.
"""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from components.katib.errors import ExperimentSpecError, UnsupportedFeature
from components.katib.spec import Algorithm, ExperimentSpec, ParameterType

__all__ = [
    "AlgorithmName",
    "BayesSettings",
    "CmaEsSettings",
    "HyperbandSettings",
    "MedianStopSettings",
    "MultivariateTpeSettings",
    "SeedOnly",
    "SobolSettings",
    "TpeSettings",
    "algorithm_settings",
    "early_stopping_settings",
]


class AlgorithmName(str, Enum):
    RANDOM = "random"
    GRID = "grid"
    TPE = "tpe"
    MULTIVARIATE_TPE = "multivariate-tpe"
    CMAES = "cmaes"
    SOBOL = "sobol"
    BAYESIAN_OPTIMIZATION = "bayesianoptimization"
    HYPERBAND = "hyperband"


# Katib algorithms the embedded engine does not run, and why.
UNSUPPORTED_ALGORITHMS = {
    "pbt": "population-based training needs trial checkpoints shared between generations",
    "enas": "ENAS is a neural-architecture search with its own RL controller",
    "darts": "DARTS is a neural-architecture search run inside the user's container",
}


class _Settings(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid", frozen=True)


class SeedOnly(_Settings):
    """random and grid: only Katib's `random_state`."""

    random_state: int | None = None


class TpeSettings(_Settings):
    """hyperopt-style tpe: gamma is the fraction of trials taken as 'good'."""

    gamma: float | None = Field(default=None, gt=0, lt=1)
    prior_weight: float | None = Field(default=None, gt=0)
    n_EI_candidates: int | None = Field(default=None, ge=1)
    random_state: int | None = None


class MultivariateTpeSettings(_Settings):
    n_startup_trials: int | None = Field(default=None, ge=0)
    n_ei_candidates: int | None = Field(default=None, ge=1)
    random_state: int | None = None


class RestartStrategy(str, Enum):
    IPOP = "ipop"
    BIPOP = "bipop"
    NONE = "none"


class CmaEsSettings(_Settings):
    random_state: int | None = None
    sigma: float | None = Field(default=None, gt=0)
    restart_strategy: RestartStrategy = RestartStrategy.NONE


class SobolSettings(_Settings):
    """Katib's sobol takes no settings; random_state (scrambling) is accepted for seeding."""

    random_state: int | None = None


class Acquisition(str, Enum):
    GP_HEDGE = "gp_hedge"
    LCB = "LCB"
    EI = "EI"
    PI = "PI"


class AcquisitionOptimizer(str, Enum):
    AUTO = "auto"
    SAMPLING = "sampling"
    LBFGS = "lbfgs"


class BayesSettings(_Settings):
    """Katib's skopt settings; the surrogate here is always a Gaussian process."""

    base_estimator: str = "GP"
    n_initial_points: int = Field(default=10, ge=1)
    acq_func: Acquisition = Acquisition.GP_HEDGE
    acq_optimizer: AcquisitionOptimizer = AcquisitionOptimizer.AUTO
    random_state: int | None = None


class HyperbandSettings(_Settings):
    resource_name: str
    r_l: int = Field(ge=1)
    eta: int = Field(default=3, ge=2)
    b_l: float | None = Field(default=None, gt=0)
    random_state: int | None = None


class MedianStopSettings(_Settings):
    min_trials_required: int = Field(default=3, ge=1)
    start_step: int = Field(default=4, ge=1)


_MODELS: dict[AlgorithmName, type[_Settings]] = {
    AlgorithmName.RANDOM: SeedOnly,
    AlgorithmName.GRID: SeedOnly,
    AlgorithmName.TPE: TpeSettings,
    AlgorithmName.MULTIVARIATE_TPE: MultivariateTpeSettings,
    AlgorithmName.CMAES: CmaEsSettings,
    AlgorithmName.SOBOL: SobolSettings,
    AlgorithmName.BAYESIAN_OPTIMIZATION: BayesSettings,
    AlgorithmName.HYPERBAND: HyperbandSettings,
}


def _validate(model: type[_Settings], algorithm: Algorithm, where: str, what: str) -> _Settings:
    values = algorithm.settings()
    accepted = sorted(model.model_fields)
    for name in values:
        if name not in model.model_fields:
            raise ExperimentSpecError(
                f"{what} {algorithm.algorithm_name!r} does not take the setting {name!r}; it "
                f"takes: {', '.join(accepted) or 'no settings'}",
                f"{where}.algorithmSettings",
            )
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"])
        got = values.get(name)
        got_text = f" (got {got!r})" if got is not None else ""
        raise ExperimentSpecError(
            f"setting {name!r} of {what} {algorithm.algorithm_name!r}: {first['msg']}{got_text}",
            f"{where}.algorithmSettings",
        ) from None


def algorithm_settings(spec: ExperimentSpec) -> tuple[AlgorithmName, _Settings]:
    """The algorithm and its typed settings, or an error naming what to change."""
    raw = spec.algorithm.algorithm_name
    if raw in UNSUPPORTED_ALGORITHMS:
        raise UnsupportedFeature(
            f"algorithm {raw!r} is not supported by the local controller: "
            f"{UNSUPPORTED_ALGORITHMS[raw]}",
            "spec.algorithm.algorithmName",
        )
    try:
        name = AlgorithmName(raw)
    except ValueError:
        known = ", ".join(a.value for a in AlgorithmName)
        raise ExperimentSpecError(
            f"unknown algorithm {raw!r}; use one of: {known}", "spec.algorithm.algorithmName"
        ) from None
    settings = _validate(_MODELS[name], spec.algorithm, "spec.algorithm", "algorithm")
    _check_space(name, settings, spec)
    return name, settings


def _check_space(name: AlgorithmName, settings: _Settings, spec: ExperimentSpec) -> None:
    """Search-space rules an algorithm adds (Katib's services check the same)."""
    where = "spec.parameters"
    if name is AlgorithmName.GRID:
        for i, p in enumerate(spec.parameters):
            if p.parameter_type is ParameterType.DOUBLE and p.step is None:
                raise ExperimentSpecError(
                    f"grid needs feasibleSpace.step on every double parameter ({p.name} has none)",
                    f"{where}[{i}].feasibleSpace.step",
                )
    if name is AlgorithmName.HYPERBAND:
        assert isinstance(settings, HyperbandSettings)
        names = [p.name for p in spec.parameters]
        if settings.resource_name not in names:
            raise ExperimentSpecError(
                f"hyperband's resource_name {settings.resource_name!r} must name a parameter "
                f"(parameters: {', '.join(names)})",
                "spec.algorithm.algorithmSettings",
            )
        resource = spec.parameter(settings.resource_name)
        if resource.parameter_type not in (ParameterType.INT, ParameterType.DOUBLE):
            raise ExperimentSpecError(
                f"hyperband's resource parameter {resource.name!r} must be int or double",
                "spec.algorithm.algorithmSettings",
            )
    if name is AlgorithmName.BAYESIAN_OPTIMIZATION:
        assert isinstance(settings, BayesSettings)
        if settings.base_estimator != "GP":
            raise UnsupportedFeature(
                f"bayesianoptimization's base_estimator {settings.base_estimator!r} is not "
                "supported: the local surrogate is a Gaussian process (use GP)",
                "spec.algorithm.algorithmSettings",
            )


def early_stopping_settings(spec: ExperimentSpec) -> MedianStopSettings | None:
    """medianstop's settings, or None when the Experiment has no earlyStopping."""
    if spec.early_stopping is None:
        return None
    if spec.early_stopping.algorithm_name != "medianstop":
        raise ExperimentSpecError(
            f"unknown early-stopping algorithm {spec.early_stopping.algorithm_name!r}; use "
            "medianstop",
            "spec.earlyStopping.algorithmName",
        )
    settings = _validate(
        MedianStopSettings, spec.early_stopping, "spec.earlyStopping", "early-stopping algorithm"
    )
    assert isinstance(settings, MedianStopSettings)
    return settings
