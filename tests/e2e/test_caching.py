"""Step caching: identical steps reuse outputs; --no-cache, changed inputs and lost artifacts run again."""

from __future__ import annotations

import shutil
from pathlib import Path

from e2e_support import by_name

WF = """apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: cached-
  annotations: {kubepipe.io/cache: "true"}
spec:
  entrypoint: main
  arguments: {parameters: [{name: seed, value: "1"}]}
  templates:
  - name: main
    dag:
      tasks:
      - {name: make, template: make, arguments: {parameters: [{name: seed, value: "{{workflow.parameters.seed}}"}]}}
      - {name: stamp, template: stamp}
  - name: make
    inputs: {parameters: [{name: seed}]}
    script:
      image: python:3.11
      command: [python]
      source: |
        import random
        value = random.random()
        open("/tmp/out.txt", "w").write(f"{{inputs.parameters.seed}}:{value}")
        print(value)
    outputs:
      artifacts: [{name: data, path: /tmp/out.txt}]
  - name: stamp
    metadata: {annotations: {kubepipe.io/cache: "false"}}
    script: {image: python:3.11, command: [python], source: "import random; print(random.random())"}
"""


def test_identical_steps_are_served_from_the_cache(run_json, tmp_path: Path, home: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(WF)
    _, first = run_json(path)
    code, second = run_json(path)
    a, b = by_name(first), by_name(second)
    assert code == 0 and second["phase"] == "Succeeded"
    assert b["make"]["cached"] is True and a["make"]["cached"] is False
    assert b["make"]["outputs"]["result"] == a["make"]["outputs"]["result"]
    assert b["make"]["outputs"]["artifacts"] == a["make"]["outputs"]["artifacts"]
    assert first["id"] in b["make"]["message"]
    assert b["stamp"]["cached"] is False, "a template can opt out"
    assert b["stamp"]["outputs"]["result"] != a["stamp"]["outputs"]["result"]

    _, third = run_json(path, "seed=2")
    assert by_name(third)["make"]["cached"] is False, "different inputs are a different step"


def test_no_cache_runs_everything_again(cli, run_json, tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(WF)
    _, first = run_json(path)
    import json

    result = cli("run", str(path), "--no-cache", "-o", "json")
    again = by_name(json.loads(result.stdout))
    assert again["make"]["cached"] is False
    assert again["make"]["outputs"]["result"] != by_name(first)["make"]["outputs"]["result"]


def test_a_deleted_artifact_is_a_cache_miss_not_a_failure(
    run_json, tmp_path: Path, home: Path
) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(WF)
    _, first = run_json(path)
    shutil.rmtree(home / "artifacts" / first["id"])  # retention removed the producing run's files
    code, second = run_json(path)
    assert code == 0
    assert by_name(second)["make"]["cached"] is False
