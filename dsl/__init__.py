"""kubepipe's pipeline DSL: the Kubeflow Pipelines v2 names, compiled to an Argo Workflow.

A KFP v2 pipeline runs after changing `from kfp import dsl` to `import dsl`::

    import dsl

    @dsl.component
    def add(a: int, b: int) -> int:
        return a + b

    @dsl.pipeline(name="sum")
    def total(x: int = 1) -> int:
        return add(a=x, b=add(a=x, b=2).output).output

    dsl.compile(total, "sum.yaml")   # then: kubepipe run sum.yaml

Errors made while authoring are `dsl.DSLError`s (see `dsl.errors`), raised at decoration time.
"""

from dsl._graph import Collected, OneOf, PipelineTask
from dsl._placeholders import ConcatPlaceholder, IfPresentPlaceholder
from dsl._types import (
    HTML,
    Artifact,
    ClassificationMetrics,
    Dataset,
    Input,
    InputPath,
    Markdown,
    Metrics,
    Model,
    Output,
    OutputPath,
    PipelineTaskFinalStatus,
)
from dsl.compiler import compile, compile_workflow, to_yaml
from dsl.component import (
    ContainerSpec,
    TemplateComponent,
    component,
    container_component,
    importer,
    template_component,
)
from dsl.errors import DefinitionError, DSLError, TracingError
from dsl.pipeline import Condition, Elif, Else, ExitHandler, If, ParallelFor, Pipeline, pipeline

# KFP's run-time placeholders, as the Argo variables the engine fills in: pass one as a
# component argument (`report(when=dsl.PIPELINE_JOB_SCHEDULED_TIME_UTC_PLACEHOLDER)`). The
# scheduled time is the due time of a recurring run (RFC 3339, UTC), else the creation time.
PIPELINE_JOB_NAME_PLACEHOLDER = "{{workflow.name}}"
PIPELINE_JOB_RESOURCE_NAME_PLACEHOLDER = "{{workflow.name}}"
PIPELINE_JOB_ID_PLACEHOLDER = "{{workflow.uid}}"
PIPELINE_JOB_CREATE_TIME_UTC_PLACEHOLDER = "{{workflow.creationTimestamp}}"
PIPELINE_JOB_SCHEDULED_TIME_UTC_PLACEHOLDER = "{{workflow.scheduledTime}}"

__all__ = [
    "HTML",
    "Artifact",
    "ClassificationMetrics",
    "Collected",
    "ConcatPlaceholder",
    "Condition",
    "ContainerSpec",
    "DSLError",
    "Dataset",
    "DefinitionError",
    "Elif",
    "Else",
    "ExitHandler",
    "If",
    "IfPresentPlaceholder",
    "Input",
    "InputPath",
    "Markdown",
    "Metrics",
    "Model",
    "OneOf",
    "Output",
    "OutputPath",
    "PIPELINE_JOB_CREATE_TIME_UTC_PLACEHOLDER",
    "PIPELINE_JOB_ID_PLACEHOLDER",
    "PIPELINE_JOB_NAME_PLACEHOLDER",
    "PIPELINE_JOB_RESOURCE_NAME_PLACEHOLDER",
    "PIPELINE_JOB_SCHEDULED_TIME_UTC_PLACEHOLDER",
    "ParallelFor",
    "Pipeline",
    "PipelineTask",
    "PipelineTaskFinalStatus",
    "TemplateComponent",
    "TracingError",
    "compile",
    "compile_workflow",
    "component",
    "container_component",
    "importer",
    "pipeline",
    "template_component",
    "to_yaml",
]
