"""Values are data: a run parameter, a step's output or a loop item is substituted once and never
read again as a template or an expression (Argo's rule: a value holding `{{` stays literal).

The two reproductions from issue 12 run here through the real engine with a scripted runner: a
run parameter `{{= 1+1 }}` became `2`, and an upstream output holding `{{workflow.name}}` made
the downstream node end in Error. A property test then sends arbitrary text along the same path.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.runners.base import StepRequest
from engine.runners.fake import FakeOutcome

# produce: writes its input (passed in the env, as a step would read it) to an output parameter;
# consume: receives that output as its input, in argv, env and a file's name.
PASS_THROUGH = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: data-}
spec:
  entrypoint: main
  arguments:
    parameters: [{name: text, value: ""}]
  templates:
  - name: main
    inputs:
      parameters: [{name: text}]
    dag:
      tasks:
      - name: produce
        template: produce
        arguments: {parameters: [{name: text, value: "{{inputs.parameters.text}}"}]}
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
      command: [produce]
      env: [{name: TEXT, value: "{{inputs.parameters.text}}"}]
    outputs:
      parameters:
      - {name: out, valueFrom: {path: /tmp/out}}
  - name: consume
    inputs:
      parameters: [{name: text}]
    container:
      image: alpine
      command: [consume, "{{inputs.parameters.text}}"]
      env: [{name: TEXT, value: "[{{inputs.parameters.text}}]"}]
    outputs:
      parameters:
      - {name: seen, valueFrom: {path: /tmp/seen}}
"""


def _echo(request: StepRequest) -> FakeOutcome:
    if request.argv[0] == "produce":
        # As `echo "$TEXT" > /tmp/out` would: the one trailing newline is not part of the value.
        return FakeOutcome(outputs={"/tmp/out": (request.env["TEXT"] + "\n").encode()})
    return FakeOutcome(outputs={"/tmp/seen": (request.argv[1] + "\n").encode()})


def _through(run_yaml: Callable[..., Any], text: str) -> Any:
    return run_yaml(PASS_THROUGH, _echo, parameters={"text": text})


def _assert_literal(done: Any, text: str) -> None:  # conftest's Finished
    assert done.run.phase.value == "Succeeded", done.phases()
    consume = done.node("consume")
    assert consume.inputs["parameters"]["text"] == text
    assert consume.outputs["parameters"]["seen"] == text
    request = next(r for r in done.runner.launched if r.argv[0] == "consume")
    assert list(request.argv) == ["consume", text] and request.env["TEXT"] == f"[{text}]"


def test_a_run_parameter_that_looks_like_an_expression_stays_literal(run_yaml) -> None:
    done = _through(run_yaml, "{{= 1+1 }}")
    produce = next(r for r in done.runner.launched if r.argv[0] == "produce")
    assert produce.env["TEXT"] == "{{= 1+1 }}"
    _assert_literal(done, "{{= 1+1 }}")


def test_an_upstream_output_that_looks_like_a_placeholder_stays_literal(run_yaml) -> None:
    def produce_a_placeholder(request: StepRequest) -> FakeOutcome:
        if request.argv[0] == "produce":  # the step's own text, whatever its input
            return FakeOutcome(outputs={"/tmp/out": b"{{workflow.name}}\n"})
        return _echo(request)

    done = run_yaml(PASS_THROUGH, produce_a_placeholder, parameters={"text": "plain"})
    assert done.node("consume").phase.value == "Succeeded", done.node("consume").message
    _assert_literal(done, "{{workflow.name}}")


LOOP = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: loop-}
spec:
  entrypoint: main
  arguments:
    parameters: [{name: items, value: "[]"}]
  templates:
  - name: main
    steps:
    - - name: each
        template: consume
        withParam: "{{workflow.parameters.items}}"
        arguments: {parameters: [{name: text, value: "{{item}}"}]}
  - name: consume
    inputs:
      parameters: [{name: text}]
    container: {image: alpine, command: [consume, "{{inputs.parameters.text}}"]}
"""


def test_loop_items_are_data(run_yaml) -> None:
    items = ["{{item}}", "{{= 2*3 }}", "{{steps.each.outputs.result}}", "{{workflow.uid}}"]
    done = run_yaml(
        LOOP, lambda r: FakeOutcome(), parameters={"items": json.dumps(items)}
    )
    assert done.run.phase.value == "Succeeded", done.phases()
    assert sorted(r.argv[1] for r in done.runner.launched) == sorted(items)


# Arbitrary text, biased towards what a renderer could mistake for its own syntax. No NUL: no
# argv or env value can hold one.
TEXT = st.lists(
    st.sampled_from(["{{", "}}", "{{=", "{{item}}", "{{= 1+1 }}", "'", '"', "\\", "\n", "\r"])
    | st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=4
    ),
    max_size=10,
).map("".join)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=TEXT)
def test_any_text_passes_through_parameters_and_outputs_unchanged(run_yaml, text: str) -> None:
    """Through a run parameter, an env value, an output file and the next step's argv."""
    _assert_literal(_through(run_yaml, text), text)


OUTPUT_PATHS = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: paths-}
spec:
  entrypoint: write
  arguments:
    parameters: [{name: stem, value: "{{pod.name}}"}]
  templates:
  - name: write
    inputs:
      parameters: [{name: stem}]
    container:
      image: alpine
      command: [write, "{{outputs.parameters.o.path}}", "{{pod.name}}"]
    outputs:
      parameters:
      - {name: o, valueFrom: {path: "/tmp/{{inputs.parameters.stem}}.txt"}}
"""


def test_output_paths_are_rendered_once_and_passed_on(run_yaml) -> None:
    """An output's path is built from an input (a value holding a tag, kept literal) and given
    to the command as `{{outputs.parameters.o.path}}`; `{{pod.name}}` in the body still works."""
    done = run_yaml(
        OUTPUT_PATHS, lambda r: FakeOutcome(outputs={r.argv[1]: b"written\n"})
    )
    assert done.run.phase.value == "Succeeded", done.phases()
    (request,) = done.runner.launched
    assert request.argv[1] == "/tmp/{{pod.name}}.txt" and request.argv[2] != "{{pod.name}}"
    assert request.output_paths == ("/tmp/{{pod.name}}.txt",)
    (node,) = done.state.nodes.values()
    assert node.outputs["parameters"] == {"o": "written"}
