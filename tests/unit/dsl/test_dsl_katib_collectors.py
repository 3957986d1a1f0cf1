"""`katib.tune(metrics_collector=...)`: StdOut, Push (`report_metrics`) and File (TEXT, JSON)
collectors, run end to end on the local engine; and the collector's authoring errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from dsl_support import run_pipeline

import dsl
from components import katib
from components.katib import report_metrics


def epochs(x: float) -> None:
    """Reports a falling loss per epoch through Push; the trial's objective is its minimum."""
    for epoch in range(3):
        report_metrics({"loss": (x - 0.3) ** 2 + 1.0 / (epoch + 1), "epoch": epoch})


def quadratic(x: float) -> float:
    return (x - 0.3) ** 2


def two_metrics(x: float) -> dict:  # type: ignore[type-arg]
    return {"loss": (x - 0.3) ** 2, "accuracy": 1 - abs(x - 0.3)}


def writes_own_file(x: float) -> None:
    """Writes TEXT metrics itself; what it prints is not the File collector's source."""
    import os

    os.makedirs("/tmp/metrics", exist_ok=True)
    with open("/tmp/metrics/train.log", "a") as handle:
        handle.write("loss=%s\n" % ((x - 0.3) ** 2))
    print("loss=-1000")


def _pipeline(objective: Any, collector: Any, trials: int = 3) -> Any:
    @dsl.pipeline(name="collect")
    def collect() -> float:
        return katib.tune(  # type: ignore[no-any-return]
            objective=objective,
            parameters={"x": katib.search.double(0.0, 1.0)},
            objective_metric_name="loss",
            objective_type="minimize",
            algorithm_name="random",
            algorithm_settings={"random_state": 3},
            max_trial_count=trials,
            parallel_trial_count=trials,
            metrics_collector=collector,
        ).outputs["best_objective"]

    return collect


def _trial_objectives(ran: Any) -> dict[float, float]:
    """Each trial's x and the objective the controller recorded for it."""
    trials = [n for n in ran.run["nodes"] if n["type"] == "Trial"]
    assert trials and all(n["phase"] == "Succeeded" for n in trials), ran.phases()
    node = next(n for n in ran.state.nodes.values() if n.template_name == "katib-results")
    assert node.phase.value == "Succeeded", node.message
    out = {}
    for n in ran.state.nodes.values():
        if n.type.value == "Trial":
            x = float(n.inputs["parameters"]["x"])
            out[x] = float(n.outputs["parameters"]["objective"])
    return out


@pytest.mark.parametrize(
    ("objective", "collector", "expect"),
    [
        (epochs, "Push", lambda x: (x - 0.3) ** 2 + 1 / 3),  # min over the epochs' reports
        (quadratic, {"kind": "Push"}, lambda x: (x - 0.3) ** 2),  # returned → report_metrics
        (two_metrics, {"kind": "File", "format": "JSON"}, lambda x: (x - 0.3) ** 2),
        (
            writes_own_file,
            {"kind": "File", "path": "/tmp/metrics/train.log"},
            lambda x: (x - 0.3) ** 2,
        ),
        (quadratic, "StdOut", lambda x: (x - 0.3) ** 2),
    ],
    ids=["push-epochs", "push-returned", "file-json", "file-text-own", "stdout"],
)
def test_collector_end_to_end(objective: Any, collector: Any, expect: Any, tmp_path: Path) -> None:
    ran = run_pipeline(_pipeline(objective, collector), tmp_path)
    assert ran.phase == "Succeeded", ran.phases()
    seen = _trial_objectives(ran)
    assert len(seen) == 3
    for x, objective_value in seen.items():
        assert objective_value == pytest.approx(expect(x), abs=1e-9)
    assert ran.outputs["Output"] == pytest.approx(min(seen.values()), abs=1e-12)


def test_the_experiment_carries_the_collector_katib_reads() -> None:
    import yaml

    def manifest(collector: Any) -> dict[str, Any]:
        text = dsl.to_yaml(dsl.compile_workflow(_pipeline(quadratic, collector)))
        template = next(t for t in yaml.safe_load(text)["spec"]["templates"] if "resource" in t)
        return yaml.safe_load(template["resource"]["manifest"])  # type: ignore[no-any-return]

    file_spec = manifest({"kind": "File", "format": "JSON"})["spec"]["metricsCollectorSpec"]
    assert file_spec == {
        "collector": {"kind": "File"},
        "source": {
            "fileSystemPath": {"path": "/tmp/katib/metrics.log", "kind": "File", "format": "JSON"}
        },
    }
    push = manifest("Push")["spec"]
    assert push["metricsCollectorSpec"] == {"collector": {"kind": "Push"}}
    container = push["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
    # report_metrics travels with the trial's code, so the trial image needs no kubepipe.
    assert "def report_metrics(metrics" in container["command"][3]


@pytest.mark.parametrize(
    ("collector", "message"),
    [
        ("PrometheusMetric", "kind 'PrometheusMetric' is not supported by tune: it scrapes"),
        ("None", "kind 'None' is not supported by tune"),
        ("Bogus", "unknown metrics_collector kind 'Bogus'; use 'StdOut', 'Push' or 'File'"),
        (42, "metrics_collector 42 is not a collector"),
        ({"kind": "File", "path": "metrics.log"}, "path must be an absolute file path"),
        ({"kind": "File", "format": "CSV"}, "format must be 'TEXT'"),
        ({"kind": "File", "fmt": "JSON"}, "metrics_collector 'File' takes no 'fmt'"),
        ({"kind": "Push", "path": "/x"}, "metrics_collector 'Push' takes no 'path'"),
    ],
)
def test_bad_collector_names_the_problem(collector: Any, message: str) -> None:
    with pytest.raises(dsl.TracingError) as info:
        _pipeline(quadratic, collector)
    text = str(info.value)
    assert message in text and "katib.tune(objective='quadratic')" in text
    assert __file__ in text


def test_report_metrics_appends_katib_json_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from components.katib.metrics import parse_json_lines

    target = tmp_path / "push.jsonl"
    monkeypatch.setenv("KATIB_METRICS_FILE", str(target))
    report_metrics({"loss": 0.5, "accuracy": 1})
    report_metrics({"loss": "0.25"})
    lines = target.read_text().splitlines()
    assert json.loads(lines[0])["accuracy"] == 1.0
    assert json.loads(lines[1])["timestamp"].endswith("Z")
    assert parse_json_lines(lines, ["loss", "accuracy"]) == {
        "loss": [0.5, 0.25],
        "accuracy": [1.0],
    }


@pytest.mark.parametrize(
    ("metrics", "message"),
    [
        ({}, "give a non-empty dict"),
        ([("loss", 1)], "give a non-empty dict"),
        ({"loss": float("nan")}, "metric 'loss' must be a finite number"),
        ({"loss": True}, "metric 'loss' must be a finite number"),
        ({"loss": "low"}, "metric 'loss' must be a finite number"),
        ({"timestamp": 1}, "other than 'timestamp'"),
    ],
)
def test_report_metrics_refuses_bad_values(
    metrics: Any, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "push.jsonl"
    monkeypatch.setenv("KATIB_METRICS_FILE", str(target))
    with pytest.raises(ValueError, match=message):
        report_metrics(metrics)
    assert not target.exists()


def test_report_metrics_outside_a_push_trial(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KATIB_METRICS_FILE", raising=False)
    with pytest.raises(RuntimeError, match="collector.kind is Push"):
        report_metrics({"loss": 1.0})
