"""The CLI runs and compiles Python pipelines through the DSL's entry points (the engine never imports it)."""

from __future__ import annotations

import json
from pathlib import Path

from e2e_support import EXAMPLES


def test_compile_then_validate_and_run_the_yaml(cli, tmp_path: Path) -> None:
    out = tmp_path / "primitives.yaml"
    result = cli("compile", str(EXAMPLES / "dsl_primitives.py"), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("apiVersion: argoproj.io/v1alpha1")
    assert cli("validate", str(out)).exit_code == 0
    run = json.loads(cli("run", str(out), "-o", "json").stdout)
    assert run["phase"] == "Succeeded"


def test_run_a_python_pipeline_with_typed_outputs(cli) -> None:
    result = cli("run", str(EXAMPLES / "dsl_primitives.py"), "-p", "x=5", "-o", "json")
    assert result.exit_code == 0, result.output
    outputs = json.loads(result.stdout)["outputs"]
    assert isinstance(outputs["count"], int) and isinstance(outputs["greeting"], str)
    assert outputs["greeting"] == "hello, kubepipe!"


def test_a_python_pipeline_that_is_not_there(cli) -> None:
    result = cli("run", f"{EXAMPLES / 'dsl_primitives.py'}:nope", "-o", "json")
    assert result.exit_code == 2
    assert "'nope' does not exist, not a @dsl.pipeline" in result.stderr
    bad = cli("compile", f"{EXAMPLES / 'dsl_primitives.py'}:nope")
    assert bad.exit_code == 2 and "nope" in bad.stderr
