"""Golden files: each examples/dsl_*.py compiles to tests/golden/<name>.yaml byte for byte.

Regenerate after an intended change with `REGENERATE=1 pytest tests/unit/dsl/test_dsl_golden.py`
and review the diff. The compiled YAML must also pass hera's Argo Workflow models (the Argo
schema), load back into engine.spec unchanged and validate.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from dsl_support import compiled_text
from test_dsl_examples import CASES, load

GOLDEN = Path(__file__).resolve().parents[2] / "golden"


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_golden(name: str) -> None:
    text = compiled_text(getattr(load(name), CASES[name][0]))
    path = GOLDEN / f"{name}.yaml"
    if os.environ.get("REGENERATE") == "1" or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{path} differs; REGENERATE=1 to accept"


@pytest.mark.parametrize("name", sorted(CASES))
def test_valid_against_argo_schema(name: str) -> None:
    models = pytest.importorskip("hera.workflows.models")
    data = yaml.safe_load(compiled_text(getattr(load(name), CASES[name][0])))
    models.Workflow.model_validate(data)


def test_same_source_same_bytes() -> None:
    first = compiled_text(load("dsl_train").train_evaluate)
    second = compiled_text(load("dsl_train").train_evaluate)
    assert first == second
