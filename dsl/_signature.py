"""Pure signature inference: a typed Python function -> frozen input/output declarations.

`infer_io(fn, what="component")` reads `inspect.signature(fn, eval_str=True)` (so modules with
`from __future__ import annotations` work) and raises `DefinitionError` naming the function, the
parameter, the rule and the fix. It builds nothing else and has no side effects, so it can be
tested on its own and reused by the component and pipeline decorators.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from dsl._types import (
    ARTIFACT_CLASSES,
    INPUT_MARK,
    OUTPUT_MARK,
    Artifact,
    InputPath,
    OutputPath,
    PipelineTaskFinalStatus,
)
from dsl.errors import DefinitionError

InputKind = Literal[
    "parameter", "input_artifact", "input_path", "output_artifact", "output_path", "final_status"
]
_PARAM_TYPES: dict[Any, str] = {
    str: "str",
    int: "int",
    float: "float",
    bool: "bool",
    list: "list",
    dict: "dict",
}
_SUPPORTED = "str, int, float, bool, list, dict (or List[...]/Dict[...], Optional[...] = None)"
_ARTIFACT_HELP = "Input[Dataset], Output[Model], InputPath('Dataset') or OutputPath(str)"


@dataclass(frozen=True)
class InputDecl:
    """One function parameter: how it travels (kind) and what it is (type name)."""

    name: str
    kind: InputKind
    type: str  # parameter type name ("int", "optional_str", ...) or artifact class name
    has_default: bool = False
    default: Any = None
    is_parameter: bool = False  # OutputPath of a parameter type: the file's text is the value
    description: str = ""
    is_list: bool = False  # Input[List[Dataset]]: the artifacts a dsl.Collected gathers

    @property
    def is_input(self) -> bool:
        return self.kind in ("parameter", "input_artifact", "input_path", "final_status")


@dataclass(frozen=True)
class OutputDecl:
    """One output the step publishes: a parameter (returned value) or an artifact."""

    name: str
    kind: Literal["parameter", "artifact"]
    type: str
    description: str = ""
    is_list: bool = False  # a pipeline output that is a dsl.Collected list of artifacts


@dataclass(frozen=True)
class Signature:
    """What a component or pipeline takes and gives, in declaration order."""

    function: str
    inputs: tuple[InputDecl, ...]
    returns: tuple[OutputDecl, ...]  # return values only (parameters)
    named_tuple: bool

    @property
    def outputs(self) -> tuple[OutputDecl, ...]:
        """Every output: returned values, then Output[...] / OutputPath parameters in order."""
        extra = [
            OutputDecl(i.name, "parameter" if i.is_parameter else "artifact", i.type, i.description)
            for i in self.inputs
            if i.kind in ("output_artifact", "output_path")
        ]
        return self.returns + tuple(extra)

    def input(self, name: str) -> InputDecl | None:
        return next((i for i in self.inputs if i.name == name), None)

    def to_json(self) -> dict[str, Any]:
        """The signature as the annotation and the step runtime carry it."""
        return {
            "function": self.function,
            "inputs": [
                {
                    k: v
                    for k, v in (
                        ("name", i.name),
                        ("kind", i.kind),
                        ("type", i.type),
                        ("is_parameter", i.is_parameter or None),
                        ("default", i.default if i.has_default else None),
                        ("has_default", i.has_default or None),
                        ("is_list", i.is_list or None),
                    )
                    if v is not None
                }
                for i in self.inputs
            ],
            "returns": [{"name": o.name, "type": o.type} for o in self.returns],
            "named_tuple": self.named_tuple,
        }


def infer_io(fn: Callable[..., Any], what: str = "component") -> Signature:
    """Declarations for every parameter and return value of `fn`, or a DefinitionError."""
    label = f"{what} {fn.__name__!r}"
    try:
        sig = inspect.signature(fn, eval_str=True)
    except NameError as exc:
        raise DefinitionError(
            f"{label}: an annotation cannot be resolved ({exc}); import the names used in "
            "annotations at module level"
        ) from None
    docs = _arg_docs(fn.__doc__ or "")
    inputs = tuple(_input(label, p, docs.get(p.name, ""), what) for p in sig.parameters.values())
    returns, named = _returns(label, sig.return_annotation, what)
    return Signature(fn.__name__, inputs, returns, named)


def _input(label: str, p: inspect.Parameter, doc: str, what: str) -> InputDecl:
    where = f"{label}, parameter {p.name!r}"
    if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
        raise DefinitionError(
            f"{where}: *args/**kwargs cannot be passed between steps; declare each input by name"
        )
    has_default = p.default is not p.empty
    default = p.default if has_default else None
    ann = p.annotation
    if ann is p.empty:
        raise DefinitionError(
            f"{where}: missing type annotation. Every {what} parameter needs one: "
            f"{_SUPPORTED}, or {_ARTIFACT_HELP}; for example `{p.name}: int`"
        )
    if isinstance(ann, (InputPath, OutputPath)):
        kind: InputKind = "input_path" if isinstance(ann, InputPath) else "output_path"
        is_param = kind == "output_path" and ann.type in _PARAM_TYPES
        type_name = _PARAM_TYPES[ann.type] if is_param else _artifact_name(ann.type)
        if has_default:
            raise DefinitionError(f"{where}: {ann!r} parameters cannot have a default")
        return InputDecl(p.name, kind, type_name, is_parameter=is_param, description=doc)
    if typing.get_origin(ann) is typing.Annotated:
        base, *marks = typing.get_args(ann)
        direction = next((m for m in marks if m in (INPUT_MARK, OUTPUT_MARK)), None)
        if direction is not None:
            element = _artifact_list_element(base)
            if element is not None:
                if direction is OUTPUT_MARK:
                    raise DefinitionError(
                        f"{where}: Output[List[{element.__name__}]] is not supported; a step "
                        f"writes one artifact per output (`{p.name}: Output[{element.__name__}]`), "
                        "and dsl.Collected gathers them from a dsl.ParallelFor"
                    )
                if has_default:
                    raise DefinitionError(f"{where}: artifact parameters cannot have a default")
                return InputDecl(
                    p.name, "input_artifact", element.__name__, description=doc, is_list=True
                )
            if not (isinstance(base, type) and issubclass(base, Artifact)):
                raise DefinitionError(
                    f"{where}: {direction!r}[{_show(base)}] needs an artifact class "
                    f"({', '.join(ARTIFACT_CLASSES)}); for a plain value write `{p.name}: "
                    f"{_show(base)}`"
                )
            if has_default:
                raise DefinitionError(f"{where}: artifact parameters cannot have a default")
            kind = "input_artifact" if direction is INPUT_MARK else "output_artifact"
            return InputDecl(p.name, kind, base.__name__, description=doc)
        ann = base
    if ann is PipelineTaskFinalStatus:
        return InputDecl(p.name, "final_status", "PipelineTaskFinalStatus", description=doc)
    element = _artifact_list_element(ann)
    if element is not None:
        raise DefinitionError(
            f"{where}: List[{element.__name__}] does not say the direction; write "
            f"`{p.name}: Input[List[{element.__name__}]]` to receive the artifacts a "
            "dsl.Collected gathers"
        )
    if isinstance(ann, type) and issubclass(ann, Artifact):
        raise DefinitionError(
            f"{where}: a bare artifact class {ann.__name__} does not say the direction; "
            f"write `{p.name}: Input[{ann.__name__}]` or `{p.name}: Output[{ann.__name__}]`"
        )
    type_name = _param_type(where, ann, has_default, default)
    if has_default and default is not None and not _fits(type_name, default):
        raise DefinitionError(
            f"{where}: default {default!r} is not a {type_name.removeprefix('optional_')}; "
            "make the default match the annotation"
        )
    return InputDecl(p.name, "parameter", type_name, has_default, default, description=doc)


def _param_type(where: str, ann: Any, has_default: bool, default: Any) -> str:
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin is typing.Union or _is_union_type(ann):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(args) == 2:
            if not has_default:
                raise DefinitionError(
                    f"{where}: Optional[{_show(rest[0])}] needs a default; write "
                    f"`= None` or another default"
                )
            return "optional_" + _param_type(where, rest[0], True, None)
        raise DefinitionError(
            f"{where}: unsupported type {_show(ann)}; a parameter is one of {_SUPPORTED}"
        )
    if origin in (list, dict):
        return _PARAM_TYPES[origin]
    if ann in _PARAM_TYPES:
        return _PARAM_TYPES[ann]
    raise DefinitionError(
        f"{where}: unsupported type {_show(ann)}; a parameter is one of {_SUPPORTED}, "
        f"and an artifact is {_ARTIFACT_HELP}"
    )


def _artifact_list_element(ann: Any) -> type[Artifact] | None:
    """The artifact class of `List[Dataset]` / `list[Dataset]`, else None (a plain list)."""
    if typing.get_origin(ann) is not list:
        return None
    args = typing.get_args(ann)
    if len(args) == 1 and isinstance(args[0], type) and issubclass(args[0], Artifact):
        return args[0]
    return None


def _is_union_type(ann: Any) -> bool:
    import types as _t

    return isinstance(ann, _t.UnionType)


def _returns(label: str, ann: Any, what: str) -> tuple[tuple[OutputDecl, ...], bool]:
    if ann is inspect.Signature.empty or ann is None or ann is type(None):
        return (), False
    if isinstance(ann, type) and issubclass(ann, tuple) and hasattr(ann, "_fields"):
        hints = typing.get_type_hints(ann)
        outs = []
        for field in ann._fields:
            if field not in hints:
                raise DefinitionError(f"{label}: NamedTuple field {field!r} needs a type")
            outs.append(
                OutputDecl(
                    field,
                    "parameter",
                    _param_type(f"{label}, output {field!r}", hints[field], True, None),
                )
            )
        return tuple(outs), True
    if isinstance(ann, type) and issubclass(ann, Artifact):
        raise DefinitionError(
            f"{label}: returning an artifact is not supported; declare a parameter "
            f"`out: Output[{ann.__name__}]` and write to out.path"
        )
    return (
        OutputDecl("Output", "parameter", _param_type(f"{label}, return value", ann, True, None)),
    ), False


def _artifact_name(t: Any) -> str:
    if t is None:
        return "Artifact"
    if isinstance(t, str):
        return t if t in ARTIFACT_CLASSES else "Artifact"
    if isinstance(t, type) and issubclass(t, Artifact):
        return t.__name__
    return "Artifact"


def _fits(type_name: str, value: Any) -> bool:
    base = type_name.removeprefix("optional_")
    if base == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if base == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, {"str": str, "bool": bool, "list": list, "dict": dict}[base])


def _show(ann: Any) -> str:
    return getattr(ann, "__name__", None) or repr(ann).replace("typing.", "")


def _arg_docs(doc: str) -> dict[str, str]:
    """Parameter descriptions from a Google-style `Args:` section."""
    out: dict[str, str] = {}
    in_args = False
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped in ("Args:", "Arguments:", "Parameters:"):
            in_args = True
            continue
        if in_args:
            match = re.match(r"^(\w+)\s*(\(.*?\))?:\s*(.*)$", stripped)
            if match:
                out[match.group(1)] = match.group(3)
            elif not stripped or stripped.endswith(":"):
                in_args = False  # a blank line or the next section ends Args:
    return out
