"""`dsl.template_component`: a task from a raw Argo template, with typed outputs, in a pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from dsl_support import compiled_text, run_pipeline

import dsl

CONFIG_MAP = {
    "resource": {
        "action": "create",
        "manifest": (
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: '{{workflow.name}}-count'\n"
            "spec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n"
            "      containers:\n      - name: main\n        image: python:3.11\n"
            "        command: [python3, -c, 'print({{inputs.parameters.n}})']\n"
        ),
    },
    "outputs": {"parameters": [{"name": "done", "valueFrom": {"jsonPath": "{.status.succeeded}"}}]},
}


@dsl.component
def double(value: int) -> int:
    return 2 * value


def test_a_resource_template_task_feeds_a_typed_output_downstream(tmp_path: Path) -> None:
    job = dsl.template_component("count", CONFIG_MAP, inputs={"n": "int"}, outputs={"done": "int"})

    @dsl.pipeline(name="raw")
    def raw() -> int:
        return double(value=job(n=3).outputs["done"]).output

    text = compiled_text(raw)
    template = next(t for t in yaml.safe_load(text)["spec"]["templates"] if t["name"] == "count")
    assert template["inputs"]["parameters"] == [{"name": "n"}]
    assert template["resource"]["action"] == "create"
    ran = run_pipeline(raw, tmp_path)
    assert ran.phase == "Succeeded" and ran.outputs == {"Output": 2}


def test_authoring_errors() -> None:
    with pytest.raises(dsl.DefinitionError, match=r"outputs \['missing'\] are not in"):
        dsl.template_component("x", CONFIG_MAP, outputs={"missing": "str"})
    with pytest.raises(dsl.DefinitionError, match="has type 'number'"):
        dsl.template_component("x", CONFIG_MAP, outputs={"done": "number"})
    with pytest.raises(dsl.DefinitionError, match="not a valid Argo template"):
        dsl.template_component("x", {"resource": {"action": "explode"}})
    job = dsl.template_component("count", CONFIG_MAP, inputs={"n": "int"})

    @dsl.pipeline(name="raw")
    def raw() -> None:
        job(n=1).set_cpu_limit("1")

    with pytest.raises(dsl.TracingError, match="limits set on its task"):
        compiled_text(raw)
    with pytest.raises(dsl.TracingError, match="'n'.*str"):

        @dsl.pipeline(name="raw2")
        def raw2() -> None:
            job(n="three")
