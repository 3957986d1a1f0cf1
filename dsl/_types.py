"""Type markers users annotate component parameters with: Input[T], Output[T], InputPath, OutputPath.

`Input[Dataset]` is `Annotated[Dataset, _INPUT]` (as in KFP and Hera), so type checkers see the
artifact class and `_signature.infer_io` sees the direction. The artifact classes themselves live
in `_bootstrap` because the step runtime needs the same classes without kubepipe installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar

from dsl._bootstrap import (
    ARTIFACT_CLASSES,
    HTML,
    Artifact,
    ClassificationMetrics,
    Dataset,
    Markdown,
    Metrics,
    Model,
    PipelineTaskFinalStatus,
)

__all__ = [
    "ARTIFACT_CLASSES",
    "HTML",
    "Artifact",
    "ClassificationMetrics",
    "Dataset",
    "Input",
    "InputPath",
    "Markdown",
    "Metrics",
    "Model",
    "Output",
    "OutputPath",
    "PipelineTaskFinalStatus",
]

T = TypeVar("T")


class _Direction:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


INPUT_MARK = _Direction("Input")
OUTPUT_MARK = _Direction("Output")

if TYPE_CHECKING:
    Input = Annotated[T, INPUT_MARK]
    Output = Annotated[T, OUTPUT_MARK]
else:

    class Input(Generic[T]):
        """`Input[Dataset]`: the function receives an artifact object to read from."""

        def __class_getitem__(cls, item: Any) -> Any:
            return Annotated[item, INPUT_MARK]

    class Output(Generic[T]):
        """`Output[Model]`: the function receives an artifact object to write `.path` and `.metadata`."""

        def __class_getitem__(cls, item: Any) -> Any:
            return Annotated[item, OUTPUT_MARK]


class InputPath:
    """`InputPath('Dataset')`: the function receives the local path of an input artifact."""

    def __init__(self, type: Any = None) -> None:
        self.type = type

    def __repr__(self) -> str:
        return f"InputPath({self.type!r})"


class OutputPath:
    """`OutputPath(str)`: a path to write; a parameter type makes the file's text the output value."""

    def __init__(self, type: Any = None) -> None:
        self.type = type

    def __repr__(self) -> str:
        return f"OutputPath({self.type!r})"
