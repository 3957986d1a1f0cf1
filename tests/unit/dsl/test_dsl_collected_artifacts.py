"""dsl.Collected over artifacts into Input[List[...]], and what an exit task learns of its group.

Each pipeline is compiled and run through the engine; the values the steps computed are checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import List

import pytest
from dsl_support import compiled_text, load_yaml, run_pipeline, run_text

import dsl
from dsl import (
    Artifact,
    Dataset,
    DefinitionError,
    Input,
    Output,
    PipelineTaskFinalStatus,
    TracingError,
)


@dsl.component
def write(text: str, out: Output[Artifact]) -> None:
    with open(out.path, "w", encoding="utf-8") as handle:
        handle.write(text)
    out.metadata["text"] = text


@dsl.component
def join(items: Input[List[Artifact]]) -> str:
    parts = []
    for item in items:
        with open(item.path, encoding="utf-8") as handle:
            content = handle.read()
        assert item.uri == item.path, (item.uri, item.path)
        parts.append(f"{item.name}={content}:{item.metadata['text']}")
    return ",".join(parts)


@dsl.component
def words(prefix: str) -> List[str]:
    return [f"{prefix}{i}" for i in range(3)]


def test_each_outer_iteration_collects_only_its_own_inner_artifacts(tmp_path: Path) -> None:
    """The key prefix is shared by every outer iteration; the pod names pick each one's own."""

    @dsl.pipeline(name="outer-inner")
    def outer_inner() -> List[str]:
        with dsl.ParallelFor(["a", "b"]) as prefix:
            listed = words(prefix=prefix)
            with dsl.ParallelFor(listed.output) as word:
                written = write(text=word)
            joined = join(items=dsl.Collected(written.outputs["out"]))
        return dsl.Collected(joined.output)

    ran = run_pipeline(outer_inner, tmp_path)
    assert ran.phase == "Succeeded", ran.phases()
    assert ran.outputs["Output"] == [
        "items-0=a0:a0,items-1=a1:a1,items-2=a2:a2",
        "items-0=b0:b0,items-1=b1:b1,items-2=b2:b2",
    ]


def test_a_second_run_in_the_same_store_reads_its_own_artifacts(tmp_path: Path) -> None:
    """Steps may be served from the cache on the second run; the list must still be whole."""

    @dsl.pipeline(name="twice")
    def twice(prefix: str = "x") -> str:
        listed = words(prefix=prefix)
        with dsl.ParallelFor(listed.output) as word:
            written = write(text=word)
        return join(items=dsl.Collected(written.outputs["out"])).output

    expected = "items-0=x0:x0,items-1=x1:x1,items-2=x2:x2"
    assert run_pipeline(twice, tmp_path).outputs == {"Output": expected}
    assert run_pipeline(twice, tmp_path).outputs == {"Output": expected}
    assert run_pipeline(twice, tmp_path, {"prefix": "y"}).outputs == {
        "Output": expected.replace("x", "y")
    }


def test_an_empty_loop_collects_an_empty_list(tmp_path: Path) -> None:
    @dsl.component
    def nothing() -> List[str]:
        return []

    @dsl.pipeline(name="empty")
    def empty() -> str:
        with dsl.ParallelFor(nothing().output) as word:
            written = write(text=word)
        return join(items=dsl.Collected(written.outputs["out"])).output

    ran = run_pipeline(empty, tmp_path)
    assert ran.phase == "Succeeded", ran.phases()
    assert ran.outputs == {"Output": ""}


_OPTIONAL_KEY = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: optional-key-}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - name: make
        template: make
      - name: read
        template: read
        depends: make
        arguments:
          artifacts:
          - {name: there, optional: true, s3: {key: "{{workflow.uid}}/made"}}
          - {name: absent, optional: true, s3: {key: "{{workflow.uid}}/never"}}
  - name: make
    container:
      image: python:3.11
      command: [python3, -c, "import os; os.makedirs('/tmp/o/d'); open('/tmp/o/d/f', 'w').write('hi')"]
    outputs:
      artifacts:
      - {name: o, path: /tmp/o, archive: {none: {}}, s3: {key: "{{workflow.uid}}/made"}}
  - name: read
    inputs:
      artifacts:
      - {name: there, path: /tmp/there}
      - {name: absent, path: /tmp/absent}
    container:
      image: python:3.11
      command: [python3, -c, "import os; print(open('/tmp/there/d/f').read(), os.path.exists('/tmp/absent'))"]
"""


def test_engine_skips_an_optional_key_only_input_that_holds_nothing(tmp_path: Path) -> None:
    """The engine side of an empty loop: an optional key-only argument artifact with nothing
    stored at the key (or below it) is left out, as Argo does; one that exists is a directory."""
    ran = run_text(_OPTIONAL_KEY, tmp_path)
    assert ran.phase == "Succeeded", ran.phases()
    assert ran.node("read")["outputs"]["result"] == "hi False"


def test_compiled_form_stores_per_pod_and_reads_the_prefix() -> None:
    @dsl.pipeline(name="shape")
    def shape() -> str:
        with dsl.ParallelFor(["p", "q"]) as word:
            written = write(text=word)
        return join(items=dsl.Collected(written.outputs["out"])).output

    data = load_yaml(compiled_text(shape))
    templates = {t["name"]: t for t in data["spec"]["templates"]}
    producer = templates["write-write"]
    (stored,) = producer["outputs"]["artifacts"]
    assert stored["archive"] == {"none": {}}
    assert stored["s3"]["key"] == "{{workflow.uid}}/shape/write/out/{{pod.name}}"
    assert "@pod={{pod.name}}" in producer["container"]["args"]
    assert "write" not in templates  # the shared template is not used by this task
    consumer = next(t for t in templates["shape"]["dag"]["tasks"] if t["name"] == "join")
    assert consumer["arguments"]["artifacts"] == [
        {"name": "items", "optional": True, "s3": {"key": "{{workflow.uid}}/shape/write/out"}}
    ]


# -- authoring errors --------------------------------------------------------------------------


def test_list_input_fed_a_single_artifact() -> None:
    with pytest.raises(
        TracingError,
        match=r"pipeline 'p': call of 'join' at .*test_dsl_collected_artifacts.py:\d+, argument "
        r"'items': Input\[List\[Artifact\]\] takes the artifacts of a loop: pass "
        r"dsl.Collected\(task.outputs\['name'\]\)",
    ):

        @dsl.pipeline
        def p() -> None:
            join(items=write(text="a").outputs["out"])


def test_collected_artifacts_into_a_single_artifact_input() -> None:
    @dsl.component
    def one(item: Input[Artifact]) -> None:
        print(item.path)

    with pytest.raises(
        TracingError,
        match=r"call of 'one' at .*:\d+, argument 'item': dsl.Collected\(output 'out' of task "
        r"'write'\) gives a list of Artifact artifacts; annotate the input as "
        r"`item: Input\[List\[Artifact\]\]`",
    ):

        @dsl.pipeline
        def p() -> None:
            with dsl.ParallelFor(["a"]) as word:
                written = write(text=word)
            one(item=dsl.Collected(written.outputs["out"]))


def test_collected_artifacts_into_a_list_parameter() -> None:
    @dsl.component
    def names(values: List[str]) -> int:
        return len(values)

    with pytest.raises(TracingError, match=r"argument 'values': dsl.Collected.*Input\[List"):

        @dsl.pipeline
        def p() -> None:
            with dsl.ParallelFor(["a"]) as word:
                written = write(text=word)
            names(values=dsl.Collected(written.outputs["out"]))


def test_nested_pipeline_list_output_into_a_single_artifact_input() -> None:
    @dsl.component
    def one(item: Input[Artifact]) -> None:
        print(item.path)

    @dsl.pipeline
    def inner() -> List[Artifact]:
        with dsl.ParallelFor(["a"]) as word:
            written = write(text=word)
        return dsl.Collected(written.outputs["out"])

    with pytest.raises(TracingError, match=r"argument 'item': .*is a list of Artifact artifacts"):

        @dsl.pipeline
        def p() -> None:
            one(item=inner().output)


def test_collected_artifact_of_a_container_component() -> None:
    @dsl.container_component
    def shell(out: dsl.OutputPath(Dataset)):  # type: ignore[valid-type]
        return dsl.ContainerSpec(image="alpine", command=["sh", "-c", f"echo hi > {out}"])

    with pytest.raises(TracingError, match=r"needs a Python @dsl.component producer"):

        @dsl.pipeline
        def p() -> None:
            with dsl.ParallelFor(["a"]):
                made = shell()
            join(items=dsl.Collected(made.outputs["out"]))


def test_output_list_of_artifacts_and_undirected_list() -> None:
    with pytest.raises(
        DefinitionError,
        match=r"component 'f', parameter 'out': Output\[List\[Dataset\]\] is not supported",
    ):

        @dsl.component
        def f(out: Output[List[Dataset]]) -> None:
            print(out)

    with pytest.raises(
        DefinitionError,
        match=r"component 'g', parameter 'xs': List\[Dataset\] does not say the direction; "
        r"write `xs: Input\[List\[Dataset\]\]`",
    ):

        @dsl.component
        def g(xs: List[Dataset]) -> None:
            print(xs)


# -- exit handler status -----------------------------------------------------------------------


@dsl.component
def report(status: PipelineTaskFinalStatus) -> str:
    import json

    return json.dumps(
        {
            "state": status.state,
            "task": status.pipeline_task_name,
            "code": status.error_code,
            "message": status.error_message,
        },
        sort_keys=True,
    )


@dsl.component
def step(fail: bool) -> None:
    if fail:
        raise SystemExit("failing on purpose")


@pytest.mark.parametrize("fail", [True, False], ids=["failing-step", "succeeding-step"])
def test_final_status_names_the_guarded_task(fail: bool, tmp_path: Path) -> None:
    import json

    @dsl.pipeline(name="status")
    def status(fail: bool = False) -> None:
        done = report()
        with dsl.ExitHandler(done):
            step(fail=fail)

    ran = run_pipeline(status, tmp_path, {"fail": fail})
    assert ran.phase == ("Failed" if fail else "Succeeded")
    (node,) = [n for n in ran.run["nodes"] if n["templateName"] == "report"]
    seen = json.loads(node["outputs"]["parameters"]["Output"])
    if fail:
        assert seen == {
            "state": "FAILED",
            "task": "exit-handler-1",
            "code": 1,
            "message": "exit-handler-1: Failed",
        }
    else:
        assert seen == {"state": "SUCCEEDED", "task": "exit-handler-1", "code": None, "message": ""}
