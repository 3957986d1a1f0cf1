"""Every examples/dsl_*.py is compiled and run through the engine, and its outputs checked."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from dsl_support import run_pipeline

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_dsl_example_is_covered() -> None:
    found = {p.stem for p in EXAMPLES.glob("dsl_*.py")}
    assert found == set(CASES), "add a case for each examples/dsl_*.py"


def _primitives(ran: Any) -> None:
    assert ran.phase == "Succeeded"
    assert ran.outputs == {"total": 7.0, "count": 3, "greeting": "hello, kubepipe!", "next": 13}


def _train(ran: Any) -> None:
    assert ran.phase == "Succeeded"
    assert ran.outputs["slope"] == pytest.approx(2.0)
    assert ran.outputs["mse"] == pytest.approx(0.0, abs=1e-9)
    assert ran.outputs["rows"] == 20
    metrics = ran.node("evaluate")["outputs"]["parameters"]["metrics-metadata"]
    assert '"framework_seen": 1.0' in metrics


def _conditions(ran: Any) -> None:
    assert ran.phase == "Succeeded"
    phases = ran.phases()
    assert (phases["big"], phases["medium"], phases["small"]) == ("Skipped", "Succeeded", "Skipped")
    assert phases["loud"] == "Succeeded"


def _parallel_for(ran: Any) -> None:
    assert ran.phase == "Succeeded"
    assert ran.outputs == {"Output": 1 + 4 + 9 + 16}
    tags = sorted(
        n["outputs"]["parameters"]["Output"] for n in ran.run["nodes"] if n["templateName"] == "tag"
    )
    assert tags == ["1:a", "2:b"]


def _exit_handler(ran: Any) -> None:
    assert ran.phase == "Failed"
    cleanup = [n for n in ran.run["nodes"] if n["templateName"] == "cleanup"]
    assert len(cleanup) == 1 and cleanup[0]["phase"] == "Succeeded"
    assert cleanup[0]["outputs"]["parameters"]["Output"] == "FAILED"


def _nested(ran: Any) -> None:
    assert ran.phase == "Succeeded"
    assert ran.outputs == {"Output": 4 * 3 + 3}


def _container(ran: Any) -> None:
    assert ran.phase == "Succeeded"
    assert ran.outputs == {"Output": len("HELLO!")}


def _retries(ran: Any) -> None:
    assert ran.phase == "Failed"
    attempts = [
        n for n in ran.run["nodes"] if n["templateName"].startswith("flaky") and n["type"] == "Pod"
    ]
    assert len(attempts) == 3
    assert ran.phases()["quick"] == "Succeeded"


def _one_of(ran: Any) -> None:
    assert ran.phase == "Succeeded"
    assert ran.outputs == {"Output": "medium"}
    assert ran.node("shout")["outputs"]["parameters"]["Output"] == "MEDIUM!"


def _collected_artifacts(ran: Any) -> None:
    assert ran.phase == "Succeeded"
    # Iteration order, file contents and each producer's metadata, for a dynamic loop...
    assert ran.outputs["merged"] == "SHARD-0/shard-0,SHARD-1/shard-1,SHARD-2/shard-2"
    # ...and for a static loop inside a nested pipeline that returns the list (directories).
    assert ran.outputs["models"] == "models-0:toy:3:3;models-1:toy:1:1;models-2:toy:2:2"


def _katib_tune(ran: Any) -> None:
    assert ran.phase == "Succeeded"
    best = ran.outputs["Output"]
    assert set(best) == {"x", "layers", "opt"}
    assert isinstance(best["x"], float) and 0.01 <= best["x"] <= 1.0
    assert isinstance(best["layers"], int) and best["opt"] in ("sgd", "adam")
    trials = [n for n in ran.run["nodes"] if n["type"] == "Trial"]
    assert len(trials) == 4 + 3 and all(n["phase"] == "Succeeded" for n in trials)
    # check-best (a downstream step) compared each best against the trials table.
    reports = sorted(
        n["outputs"]["parameters"]["Output"]
        for n in ran.run["nodes"]
        if n["templateName"] == "check-best"
    )
    assert [r.split(";")[0] for r in reports] == ["3 trials", "4 trials"]


CASES = {
    "dsl_primitives": ("primitives", _primitives),
    "dsl_train": ("train_evaluate", _train),
    "dsl_conditions": ("conditions", _conditions),
    "dsl_parallel_for": ("parallel_for", _parallel_for),
    "dsl_exit_handler": ("exit_handler", _exit_handler),
    "dsl_nested": ("nested", _nested),
    "dsl_container": ("container", _container),
    "dsl_retries": ("retries", _retries),
    "dsl_one_of": ("one_of", _one_of),
    "dsl_collected_artifacts": ("collected_artifacts", _collected_artifacts),
    "dsl_katib_tune": ("katib_tune", _katib_tune),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_example_runs(name: str, tmp_path: Path) -> None:
    attr, check = CASES[name]
    ran = run_pipeline(getattr(load(name), attr), tmp_path)
    try:
        check(ran)
    except AssertionError:
        print({n["displayName"]: (n["phase"], n["message"]) for n in ran.run["nodes"]})
        raise
