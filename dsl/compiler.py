"""Compile a traced pipeline to one Argo `Workflow` (engine.spec models), then to YAML.

The work is split by job: `_registry` names and shares templates, `_dag` turns a traced graph
into DAG templates, `_conditions` writes `when`, `templates` writes one container template per
component, `_yaml` prints the result. This module only puts the workflow together.

Output is deterministic: names come from the source, lists keep source order, no timestamps.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dsl._registry import TemplateSet
from dsl._wire import (
    CACHE_ANNOTATION,
    DESCRIPTION_ANNOTATION,
    OUTPUTS_ANNOTATION,
    SIGNATURE_ANNOTATION,
    encode_constant,
)
from dsl._yaml import to_yaml
from dsl.pipeline import Pipeline
from engine import spec as s

__all__ = ["OUTPUTS_ANNOTATION", "compile", "compile_workflow", "to_yaml"]


def compile_workflow(pipe: Pipeline[Any, Any]) -> s.Workflow:
    """The Argo Workflow for a pipeline: entry DAG, block DAGs, one template per component."""
    if not isinstance(pipe, Pipeline):
        raise TypeError(f"dsl.compile takes a @dsl.pipeline function, got {type(pipe).__name__}")
    templates = TemplateSet()
    entry = templates.pipeline(pipe)
    annotations = {CACHE_ANNOTATION: "true"}
    if pipe.description:
        annotations[DESCRIPTION_ANNOTATION] = pipe.description
    outputs = {o.name: o.type for o in pipe.signature.returns}
    if outputs:
        annotations[OUTPUTS_ANNOTATION] = json.dumps(outputs, sort_keys=True)
    annotations[SIGNATURE_ANNOTATION] = json.dumps(
        _pipeline_signature(pipe), sort_keys=True, separators=(",", ":")
    )
    arguments = [
        s.Parameter(
            name=d.name, value=encode_constant(d.default, d.type) if d.has_default else None
        )
        for d in pipe.signature.inputs
    ]
    return s.Workflow(
        metadata=s.ObjectMeta(generate_name=f"{pipe.name}-", annotations=annotations),
        spec=s.WorkflowSpec(
            entrypoint=entry,
            arguments=s.Arguments(parameters=arguments),
            templates=list(templates.templates.values()),
        ),
    )


def _pipeline_signature(pipe: Pipeline[Any, Any]) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": d.name, "type": d.type, **({"default": d.default} if d.has_default else {})}
            for d in pipe.signature.inputs
        ],
        "outputs": [
            {"name": o.name, "type": o.type, "kind": o.kind} for o in pipe.signature.returns
        ],
    }


def compile(pipeline_func: Pipeline[Any, Any], package_path: str | Path) -> s.Workflow:
    """Write the pipeline's Argo Workflow YAML to `package_path` and return the model.

    Examples:
        >>> # dsl.compile(my_pipeline, "my_pipeline.yaml"); kubepipe run my_pipeline.yaml
    """
    workflow = compile_workflow(pipeline_func)
    Path(package_path).write_text(to_yaml(workflow), encoding="utf-8")
    return workflow
