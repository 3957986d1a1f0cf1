"""Values are data, with real processes: a `-p` run parameter goes through a shell step that
writes it to an output parameter, then to the next step's argv, and arrives byte for byte.

The unit tests (tests/unit/engine/test_engine_values_are_data.py) try many more strings with a
scripted runner; these few run the real CLI, runner and shell end to end.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_support import by_name

WORKFLOW = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: data-}
spec:
  entrypoint: main
  arguments:
    parameters: [{name: text, value: ""}]
  templates:
  - name: main
    dag:
      tasks:
      - name: produce
        template: produce
        arguments: {parameters: [{name: text, value: "{{workflow.parameters.text}}"}]}
      - name: consume
        depends: produce
        template: consume
        arguments:
          parameters: [{name: text, value: "{{tasks.produce.outputs.parameters.out}}"}]
  - name: produce
    inputs:
      parameters: [{name: text}]
    container:
      image: alpine
      command: [sh, -c, 'printf "%s\\n" "$TEXT" > /tmp/out']
      env: [{name: TEXT, value: "{{inputs.parameters.text}}"}]
    outputs:
      parameters: [{name: out, valueFrom: {path: /tmp/out}}]
  - name: consume
    inputs:
      parameters: [{name: text}]
    container:
      image: alpine
      command: [sh, -c, 'printf "%s\\n" "$1" > /tmp/seen', sh, "{{inputs.parameters.text}}"]
    outputs:
      parameters: [{name: seen, valueFrom: {path: /tmp/seen}}]
"""


@pytest.mark.parametrize(
    "text",
    [
        "{{= 1+1 }}",
        "{{workflow.name}}",
        "it's \"quoted\" \\ {{ a }} }} {{= 'x' + \"y\" }}",
        "two\nlines ☃ é {{inputs.parameters.text}}",
    ],
    ids=["expression", "placeholder", "quotes", "newline-unicode"],
)
def test_a_run_parameter_arrives_unchanged_through_real_steps(
    text: str, run_json, tmp_path: Path
) -> None:
    path = tmp_path / "data.yaml"
    path.write_text(WORKFLOW)
    code, run = run_json(path, f"text={text}")
    nodes = by_name(run)
    assert code == 0 and run["phase"] == "Succeeded", [(n, v["message"]) for n, v in nodes.items()]
    assert nodes["produce"]["outputs"]["parameters"]["out"] == text
    assert nodes["consume"]["outputs"]["parameters"]["seen"] == text
