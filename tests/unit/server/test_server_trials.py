"""The trials endpoint on a real Katib experiment run (examples/katib-experiment.yaml through the
real engine): one row per trial in creation order with Katib's state, parameters and objective,
the best row exactly `currentOptimalTrial`, the search space for the plots' axes (log scale for
the log distributions), and 404s (as the server's JSON errors) for a node that is not an
experiment and for another namespace."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import CliRunner
from server_support import EXAMPLES, Api

from engine.cli import main as kubepipe
from server.schemas import AxisScale, Role
from server.trials import _parameter

TRIALS = 4


def _experiment_yaml() -> str:
    """The example with fewer trials, so the test stays quick."""
    text = (EXAMPLES / "katib-experiment.yaml").read_text()
    assert "maxTrialCount: 6" in text
    return text.replace("maxTrialCount: 6", f"maxTrialCount: {TRIALS}")


def _run_experiment(
    api: Api, headers: dict[str, str] | None = None, text: str | None = None
) -> tuple[str, dict]:
    response = api.client.post(
        "/api/v1/runs", json={"pipeline_yaml": text or _experiment_yaml()}, headers=headers or {}
    )
    assert response.status_code == 201, response.text
    run_id = response.json()["id"]
    assert api.execute(run_id) == "Succeeded"
    return run_id, api.client.get(f"/api/v1/runs/{run_id}", headers=headers or {}).json()


def test_trials_rows_best_and_search_space(api: Api) -> None:
    run_id, run = _run_experiment(api)
    trial_nodes = [n for n in run["nodes"] if n["type"] == "Trial"]
    experiment = next(
        n for n in run["nodes"] if set(n["children"]) & {t["id"] for t in trial_nodes}
    )
    response = api.client.get(f"/api/v1/runs/{run_id}/nodes/{experiment['id']}/trials")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["experiment"] == "quadratic-tpe" and body["algorithm"] == "tpe"
    assert body["objective"] == {"name": "loss", "type": "minimize", "goal": None}
    assert body["condition"] == "ExperimentMaxTrialsReached"
    params = {p["name"]: p for p in body["parameters"]}
    assert params["lr"] == {
        "name": "lr",
        "type": "double",
        "numeric": True,
        "min": 0.01,
        "max": 0.5,
        "values": [],
        "scale": "linear",
    }
    assert params["layers"]["type"] == "int" and params["layers"]["max"] == 6.0
    assert params["layers"]["scale"] == "linear"

    rows = body["trials"]
    assert len(rows) == TRIALS and [r["index"] for r in rows] == list(range(TRIALS))
    by_node = {t["id"]: t for t in trial_nodes}
    for row in rows:
        node = by_node[row["node_id"]]
        assert row["name"] == node["displayName"] and row["state"] == "Succeeded"
        assert set(row["parameters"]) == {"lr", "layers"}
        lr, layers = float(row["parameters"]["lr"]), int(row["parameters"]["layers"])
        assert 0.01 <= lr <= 0.5 and 1 <= layers <= 6
        # the trial's own objective: the example's quadratic, printed to 6 decimals
        assert row["objective"] == round((lr - 0.1) ** 2 * 100 + (layers - 3) ** 2, 6)

    best = [r for r in rows if r["best"]]
    assert len(best) == 1 and best[0]["name"] == body["best_trial"]
    assert best[0]["objective"] == min(r["objective"] for r in rows)
    assert body["best_trial"] == run["outputs"]["entryParameters"]["best-trial"]


_SEARCH_SPACE = """\
  - name: lr
    parameterType: double
    feasibleSpace: {min: "0.01", max: "0.5"}
  - name: layers
    parameterType: int
    feasibleSpace: {min: "1", max: "6"}
"""

# Only the two log distributions plot on a log axis; the trial command reads just lr and layers.
_DISTRIBUTIONS = """\
  - name: lr
    parameterType: double
    feasibleSpace: {min: "0.001", max: "1", distribution: logUniform}
  - name: layers
    parameterType: int
    feasibleSpace: {min: "1", max: "6", distribution: logNormal}
  - name: momentum
    parameterType: double
    feasibleSpace: {min: "0.5", max: "0.99", distribution: uniform}
  - name: decay
    parameterType: double
    feasibleSpace: {min: "0.1", max: "0.9", distribution: normal}
  - name: batch
    parameterType: discrete
    feasibleSpace: {list: ["16", "32", "64"]}
  - name: optimizer
    parameterType: categorical
    feasibleSpace: {list: [sgd, adam]}
"""


def test_log_distributions_plot_on_a_log_scale(api: Api) -> None:
    text = _experiment_yaml()
    assert _SEARCH_SPACE in text
    run_id, run = _run_experiment(api, text=text.replace(_SEARCH_SPACE, _DISTRIBUTIONS))
    node = next(n["id"] for n in run["nodes"] if n["templateName"] == "experiment")
    response = api.client.get(f"/api/v1/runs/{run_id}/nodes/{node}/trials")
    assert response.status_code == 200, response.text
    params = {p["name"]: p for p in response.json()["parameters"]}
    assert {name: p["scale"] for name, p in params.items()} == {
        "lr": "log",
        "layers": "log",
        "momentum": "linear",
        "decay": "linear",
        "batch": "linear",
        "optimizer": "linear",
    }
    assert params["lr"]["min"] == 0.001 and params["lr"]["max"] == 1.0


@pytest.mark.parametrize("low", ["0", "-1"])
def test_a_log_distribution_reaching_zero_stays_linear(low: str) -> None:
    # Katib's validation refuses such a space before a run exists, so only the helper can get one.
    raw = {
        "name": "lr",
        "parameterType": "double",
        "feasibleSpace": {"min": low, "max": "1", "distribution": "logUniform"},
    }
    assert _parameter(raw).scale is AxisScale.LINEAR


def test_a_node_that_is_no_experiment_is_404(api: Api) -> None:
    run_id, run = _run_experiment(api)
    trial = next(n for n in run["nodes"] if n["type"] == "Trial")
    response = api.client.get(f"/api/v1/runs/{run_id}/nodes/{trial['id']}/trials")
    assert response.status_code == 404
    assert response.json()["error"] == "not found" and response.json()["field"] == "node_id"
    assert "not a Katib experiment" in response.json()["detail"]
    missing = api.client.get(f"/api/v1/runs/{run_id}/nodes/nope/trials")
    assert missing.status_code == 404 and "no node 'nope'" in missing.json()["detail"]
    assert api.client.get("/api/v1/runs/nope/nodes/x/trials").json()["field"] == "run_id"


def test_trials_follow_the_runs_namespace(make_api: Callable[..., Api]) -> None:
    api = make_api(auth=True)
    store = api.app.state.services.store
    editor = {"Authorization": f"Bearer {store.create_token('team-a', Role.EDITOR)}"}
    viewer = {"Authorization": f"Bearer {store.create_token('team-a', Role.VIEWER)}"}
    other = {"Authorization": f"Bearer {store.create_token('team-b', Role.EDITOR)}"}
    run_id, run = _run_experiment(api, editor)
    node = next(n["id"] for n in run["nodes"] if n["templateName"] == "experiment")
    path = f"/api/v1/runs/{run_id}/nodes/{node}/trials"
    assert api.client.get(path, headers=viewer).status_code == 200
    assert len(api.client.get(path, headers=viewer).json()["trials"]) == TRIALS
    assert api.client.get(path, headers=other).status_code == 404
    assert api.client.get(path).status_code == 401


def test_kubepipe_get_lists_each_trial_with_its_values(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id, run = _run_experiment(api)
    monkeypatch.setenv("KUBEPIPE_HOME", str(api.settings.engine.home))
    monkeypatch.delenv("KUBEPIPE_DB_URL", raising=False)
    tree = CliRunner().invoke(kubepipe, ["get", run_id], catch_exceptions=False).stdout
    for trial in (n for n in run["nodes"] if n["type"] == "Trial"):
        line = next(x for x in tree.splitlines() if f" {trial['displayName']}  " in x)
        values = trial["outputs"]["parameters"]
        objective = float(values["objective"])
        assert f"lr={float(values['lr']):.4g} layers={values['layers']} " in line, line
        assert line.endswith(f"objective={objective:.4g}") and "condition=" not in line, line
