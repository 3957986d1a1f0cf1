"""The Experiment spec: Katib's corpus loads (or is refused for a listed reason), defaults are
Katib's, and bad input is an error naming the field and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from katib_support import experiment

from components.katib import (
    ExperimentSpecError,
    UnsupportedFeature,
    check_runnable,
    load_experiment,
    parse_experiment,
)
from components.katib.spec import CollectorKind, MetricStrategyType, ResumePolicy

CORPUS = Path(__file__).resolve().parents[4] / "shared" / "corpus" / "katib-examples"

# Corpus files the local controller refuses, and the words its message must contain.
UNSUPPORTED = {
    "custom-metrics-collector.yaml": "metrics collector 'Custom'",
    "mpijob-horovod.yaml": "kubeflow.org/v1/MPIJob are not supported",
    "pytorchjob-mnist.yaml": "kubeflow.org/v1/PyTorchJob are not supported",
    "simple-pbt.yaml": "algorithm 'pbt' is not supported",
    "tfjob-mnist-with-summaries.yaml": "kubeflow.org/v1/TFJob are not supported",
    "trainjob-pytorch.yaml": "TrainJob are not supported",
    "trial-configmap-source.yaml": "from a ConfigMap needs a cluster",
    "xgboostjob-lightgbm.yaml": "XGBoostJob are not supported",
}


def corpus_files() -> list[Path]:
    return sorted(CORPUS.glob("*.yaml")) if CORPUS.is_dir() else []


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus/katib-examples is absent")
def test_the_corpus_is_all_there() -> None:
    assert len(corpus_files()) == 26
    assert set(UNSUPPORTED) <= {p.name for p in corpus_files()}


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus/katib-examples is absent")
@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_every_corpus_manifest_parses_and_is_run_or_refused_for_a_listed_reason(
    path: Path,
) -> None:
    exp = load_experiment(path)  # every one is valid Katib
    assert exp.spec.objective.objective_metric_name
    if path.name in UNSUPPORTED:
        with pytest.raises(UnsupportedFeature, match=UNSUPPORTED[path.name]):
            check_runnable(exp)
    else:
        check_runnable(exp)


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus/katib-examples is absent")
def test_corpus_defaults_and_collectors_read_as_katib_fills_them() -> None:
    grid = load_experiment(CORPUS / "grid.yaml").spec
    assert grid.objective.strategy("loss") is MetricStrategyType.MIN
    assert grid.metrics_collector_spec.kind is CollectorKind.STDOUT
    assert grid.resume_policy is ResumePolicy.NEVER
    strategies = load_experiment(CORPUS / "metrics-collection-strategy.yaml").spec.objective
    assert strategies.strategy("accuracy") is MetricStrategyType.MAX
    text = load_experiment(CORPUS / "file-metrics-collector.yaml").spec.metrics_collector_spec
    assert text.file_path == "/katib/mnist.log"
    assert text.filters == [r"{metricName: ([\w|-]+), metricValue: ((-?\d+)(\.\d+)?)}"]
    assert load_experiment(CORPUS / "from-volume-resume.yaml").spec.resume_policy is (
        ResumePolicy.FROM_VOLUME
    )


def test_defaults_are_katibs() -> None:
    manifest = experiment()
    del manifest["spec"]["parallelTrialCount"]
    spec = parse_experiment(manifest).spec
    assert spec.parallel_trial_count == 3
    assert spec.metrics_collector_spec.kind is CollectorKind.STDOUT
    assert spec.metrics_collector_spec.filters == [
        r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"
    ]
    assert spec.dump()["objective"]["metricStrategies"] == [{"name": "loss", "value": "min"}]


def _space(kind: str, **space: Any) -> list[dict[str, Any]]:
    return [{"name": "x", "parameterType": kind, "feasibleSpace": space}]


@pytest.mark.parametrize(
    ("manifest", "error", "where", "words"),
    [
        (
            experiment("annealing"),
            ExperimentSpecError,
            "spec.algorithm.algorithmName",
            "unknown algorithm 'annealing'; use one of: random, grid, tpe",
        ),
        (
            experiment("tpe", {"n_startup": "3"}),
            ExperimentSpecError,
            "spec.algorithm.algorithmSettings",
            "algorithm 'tpe' does not take the setting 'n_startup'; it takes: gamma",
        ),
        (
            experiment("cmaes", {"sigma": "-1"}),
            ExperimentSpecError,
            "spec.algorithm.algorithmSettings",
            "setting 'sigma' of algorithm 'cmaes': Input should be greater than 0",
        ),
        (
            experiment("bayesianoptimization", {"base_estimator": "RF"}),
            UnsupportedFeature,
            "spec.algorithm.algorithmSettings",
            "base_estimator 'RF' is not supported",
        ),
        (
            experiment("grid"),
            ExperimentSpecError,
            "spec.parameters[0].feasibleSpace.step",
            "grid needs feasibleSpace.step on every double parameter",
        ),
        (
            experiment("hyperband", {"r_l": "9", "resource_name": "epochs"}),
            ExperimentSpecError,
            "spec.algorithm.algorithmSettings",
            "resource_name 'epochs' must name a parameter",
        ),
        (
            experiment(
                "random",
                extra_spec={
                    "earlyStopping": {
                        "algorithmName": "medianstop",
                        "algorithmSettings": [{"name": "start_step", "value": "0"}],
                    }
                },
            ),
            ExperimentSpecError,
            "spec.earlyStopping.algorithmSettings",
            "setting 'start_step' of early-stopping algorithm 'medianstop'",
        ),
    ],
    ids=[
        "unknown-algorithm",
        "unknown-setting",
        "bad-setting",
        "rf-estimator",
        "grid-step",
        "hyperband-resource",
        "medianstop-setting",
    ],
)
def test_bad_algorithms_and_settings_name_the_field(
    manifest: dict[str, Any], error: type[Exception], where: str, words: str
) -> None:
    exp = parse_experiment(manifest)
    with pytest.raises(error) as caught:
        check_runnable(exp)
    assert isinstance(caught.value, ExperimentSpecError)
    assert caught.value.where == where
    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("parameters", "where", "words"),
    [
        (
            _space("double", min="2", max="1"),
            "spec.parameters[0]",
            "feasibleSpace.min (2) is greater than feasibleSpace.max (1); swap them",
        ),
        (
            _space("categorical", list=[]),
            "spec.parameters[0]",
            "needs a non-empty feasibleSpace.list of values",
        ),
        (
            _space("int", min="1.5", max="3"),
            "spec.parameters[0]",
            "feasibleSpace.min '1.5' is not an integer",
        ),
        (
            _space("double", min="0", max="1", distribution="logUniform"),
            "spec.parameters[0]",
            "a logUniform distribution needs feasibleSpace.min > 0",
        ),
        (
            _space("discrete", list=["1", "1"]),
            "spec.parameters[0]",
            "feasibleSpace.list repeats a value",
        ),
    ],
    ids=[
        "min-greater-than-max",
        "empty-categorical",
        "int-not-integer",
        "log-from-zero",
        "repeated-value",
    ],
)
def test_bad_search_spaces_are_refused_with_the_parameter(
    parameters: list[dict[str, Any]], where: str, words: str
) -> None:
    manifest = experiment(parameters=parameters, args=["${trialParameters.x}"])
    with pytest.raises(ExperimentSpecError) as caught:
        parse_experiment(manifest, "exp.yaml")
    assert caught.value.where == where
    assert words in caught.value.reason
    assert str(caught.value).startswith("exp.yaml: spec.parameters[0]: ")


def test_missing_objective_metric_name_and_unknown_fields_are_named() -> None:
    manifest = experiment()
    del manifest["spec"]["objective"]["objectiveMetricName"]
    with pytest.raises(ExperimentSpecError, match="objective.objectiveMetricName: required"):
        parse_experiment(manifest)
    manifest = experiment()
    manifest["spec"]["paralelTrialCount"] = 2
    with pytest.raises(ExperimentSpecError, match="spec.paralelTrialCount: unknown field"):
        parse_experiment(manifest)


def test_a_trial_parameter_must_reference_a_parameter_and_placeholders_must_be_declared() -> None:
    manifest = experiment()
    manifest["spec"]["trialTemplate"]["trialParameters"][0]["reference"] = "lr"
    with pytest.raises(ExperimentSpecError, match="references 'lr', which is not a parameter"):
        parse_experiment(manifest)
    manifest = experiment(args=["${trialParameters.z}"])
    with pytest.raises(ExperimentSpecError, match=r"trialParameters.z\}, which is not declared"):
        check_runnable(parse_experiment(manifest))


def test_grid_budget_cannot_exceed_its_combinations() -> None:
    params = [{"name": "x", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "3"}}]
    manifest = experiment("grid", parameters=params, args=["${trialParameters.x}"], max_trials=4)
    with pytest.raises(ExperimentSpecError, match="grid has 3 combinations but maxTrialCount is 4"):
        check_runnable(parse_experiment(manifest))
