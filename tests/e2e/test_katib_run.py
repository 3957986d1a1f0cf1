"""`kubepipe run experiment.yaml`: a bare Katib Experiment runs as a one-step workflow."""

from __future__ import annotations

from pathlib import Path

from e2e_support import EXAMPLES

EXPERIMENT = (EXAMPLES / "katib-experiment.yaml").read_text()


def test_a_bare_experiment_runs_and_reports_its_best_trial(run_json) -> None:
    code, run = run_json(EXAMPLES / "katib-experiment.yaml")
    assert code == 0 and run["phase"] == "Succeeded", run.get("message")
    trials = [n for n in run["nodes"] if n["type"] == "Trial"]
    assert len(trials) == 6 and all(t["phase"] == "Succeeded" for t in trials)
    losses = {t["displayName"]: float(t["outputs"]["parameters"]["objective"]) for t in trials}
    best = run["outputs"]["entryParameters"]
    assert best["best-trial"] == min(losses, key=losses.__getitem__)
    assert float(best["best-objective"]) == min(losses.values())


def test_an_invalid_experiment_names_the_field_and_line(cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXPERIMENT.replace('{min: "1", max: "6"}', '{min: "6", max: "1"}'))
    result = cli("run", str(bad))
    assert result.exit_code == 2
    assert f"{bad}:24:5: spec.parameters[1]: feasibleSpace.min (6) is greater" in result.output
    assert cli("list").output.count("quadratic") == 0  # nothing was queued or run


def test_a_trial_kind_the_local_engine_cannot_run_is_refused(cli, tmp_path: Path) -> None:
    bad = tmp_path / "pytorch.yaml"
    bad.write_text(
        EXPERIMENT.replace(
            "apiVersion: batch/v1\n      kind: Job",
            "apiVersion: kubeflow.org/v1\n      kind: PyTorchJob",
        )
    )
    result = cli("validate", str(bad))
    assert result.exit_code == 2 and "PyTorchJob" in result.output, result.output
