"""`@component`, `@container_component` and `importer`: functions that become Argo templates.

A component is a small object that remembers the function (`.python_func`, `.fn`), its inferred
signature and how to run it. Called outside a pipeline it runs the function (for unit tests);
called while a pipeline body is traced it records a `PipelineTask` and returns it.
"""

from __future__ import annotations

import functools
import inspect
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, TypeVar, overload

from dsl._bootstrap import ART_IN, ART_OUT, PARAM_OUT
from dsl._graph import (
    Channel,
    Collected,
    ConditionGroup,
    LoopGroup,
    LoopItem,
    OneOf,
    PipelineParam,
    PipelineTask,
    TaskOutput,
    current_builder,
    kebab,
    user_line,
)
from dsl._placeholders import expand, if_present_inputs
from dsl._signature import InputDecl, OutputDecl, Signature, _fits, infer_io
from dsl._types import ARTIFACT_CLASSES, Artifact
from dsl.errors import DefinitionError, TracingError

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_IMAGE = "python:3.11"


class BaseComponent(Generic[P, R]):
    """What every component shares: a name, a signature and the call that records a task."""

    def __init__(self, func: Callable[P, R], signature: Signature, name: str | None = None) -> None:
        self.python_func: Callable[P, R] = func
        self.fn: Callable[P, R] = func
        self.signature = signature
        self.name = kebab(name or func.__name__)
        self.description = inspect.getdoc(func) or ""
        functools.update_wrapper(self, func)  # type: ignore[arg-type]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Inside a pipeline: a PipelineTask. Outside: the function's own result.

        Typed `Any` on purpose: while a pipeline is traced the arguments are channels standing
        for values that do not exist yet, so `Callable[P, R]` would be a lie there.
        """
        builder = current_builder()
        if builder is None:
            return self.run_outside(*args, **kwargs)
        return self.add_task(builder, args, kwargs)

    def run_outside(self, *args: Any, **kwargs: Any) -> Any:
        return self.python_func(*args, **kwargs)

    # -- tracing -----------------------------------------------------------------------------
    def add_task(self, builder: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> PipelineTask:
        line = user_line()
        where = f"{builder.pipeline}: call of {self.name!r} at {line}"
        accepted = [i for i in self.signature.inputs if i.is_input and i.kind != "final_status"]
        if len(args) > len(accepted):
            raise TracingError(
                f"{where}: takes {len(accepted)} inputs but {len(args)} positional arguments were given"
            )
        bound: dict[str, Any] = {}
        for decl, value in zip(accepted, args):
            bound[decl.name] = value
        for key, value in kwargs.items():
            found = self.signature.input(key)
            if found is None or not found.is_input:
                names = ", ".join(i.name for i in accepted) or "none"
                what = "is an output, not an input" if found is not None else "is not a parameter"
                raise TracingError(f"{where}: {key!r} {what} (inputs: {names})")
            if key in bound:
                raise TracingError(f"{where}: {key!r} given twice")
            bound[key] = value
        groups = tuple(builder.stack)
        for decl in accepted:
            if decl.name not in bound:
                if decl.has_default:
                    continue
                raise TracingError(f"{where}: missing argument {decl.name!r}")
            _check_argument(where, decl, bound[decl.name], groups)
        task = PipelineTask(
            name=builder.unique(self.name),
            component=self,
            arguments=bound,
            groups=groups,
            line=line,
            seq=builder.next_seq(),
        )
        builder.tasks.append(task)
        return task


def _check_argument(where: str, decl: InputDecl, value: Any, groups: tuple[Any, ...]) -> None:
    """Type and scope checks for one argument, in the author's words."""
    at = f"{where}, argument {decl.name!r}"
    wants_artifact = decl.kind in ("input_artifact", "input_path")
    if isinstance(value, Collected):
        inner = value.channel
        if any(g is value.loop for g in groups):
            raise TracingError(
                f"{at}: dsl.Collected({inner!r}) is used inside its own dsl.ParallelFor; "
                "use it after the loop"
            )
        _check_scope(at, inner, inner.task.groups, groups, skip=value.loop)
        if inner.is_artifact:
            if not (wants_artifact and decl.is_list):
                raise TracingError(
                    f"{at}: dsl.Collected({inner!r}) gives a list of {inner.type} artifacts; "
                    f"annotate the input as `{decl.name}: Input[List[{inner.type}]]`"
                )
            if not isinstance(inner.task.component, PythonComponent):
                raise TracingError(
                    f"{at}: dsl.Collected of an artifact needs a Python @dsl.component producer "
                    f"(it publishes where each iteration stored its artifact); "
                    f"{inner.task.name!r} is a {type(inner.task.component).__name__}"
                )
            return
        if decl.type.removeprefix("optional_") not in ("list",):
            raise TracingError(f"{at}: dsl.Collected gives a list; annotate the input as List[...]")
        return
    if decl.is_list and not (isinstance(value, TaskOutput) and value.is_list):
        raise TracingError(
            f"{at}: Input[List[{decl.type}]] takes the artifacts of a loop: pass "
            f"dsl.Collected(task.outputs['name']) of a task inside a dsl.ParallelFor (or a "
            f"pipeline output that is one), got {value!r}"
        )
    if isinstance(value, PipelineTask):
        raise TracingError(
            f"{at}: got the task {value.name!r} itself; pass {value.name}.output or "
            f"{value.name}.outputs['name'], or use .after() for ordering only"
        )
    if isinstance(value, Channel):
        if isinstance(value, TaskOutput):
            _check_scope(at, value, value.task.groups, groups)
            if value.is_list and not decl.is_list:
                raise TracingError(
                    f"{at}: {value!r} is a list of {value.type} artifacts; annotate the input "
                    f"as `{decl.name}: Input[List[{value.type}]]`"
                )
        if isinstance(value, OneOf):
            if any(g is b for g in groups for b in value.branches):
                raise TracingError(
                    f"{at}: {value!r} is used inside a branch it picks from; use it after the "
                    "dsl.If/Elif/Else"
                )
            _check_scope(at, value, value.groups, groups)
        if value.is_artifact != wants_artifact:
            got = f"a {value.type} artifact" if value.is_artifact else f"a {value.type} value"
            need = (
                f"a {decl.type} artifact"
                if wants_artifact
                else f"a {decl.type.removeprefix('optional_')}"
            )
            raise TracingError(f"{at}: passing {got} ({value!r}) where {need} is expected")
        if not wants_artifact and not _compatible(value.type, decl.type):
            raise TracingError(
                f"{at}: passing a {value.type} ({value!r}) where a "
                f"{decl.type.removeprefix('optional_')} is expected"
            )
        return
    if wants_artifact:
        if isinstance(value, Artifact):
            raise TracingError(f"{at}: pass artifacts between tasks or through dsl.importer(...)")
        raise TracingError(
            f"{at}: passing the constant {value!r} where a {decl.type} artifact is expected; "
            "use dsl.importer(artifact_uri=..., artifact_class=...)"
        )
    if value is None and decl.type.startswith("optional_"):
        return
    if not _fits(decl.type, value):
        raise TracingError(
            f"{at}: passing {type(value).__name__} {value!r} where a "
            f"{decl.type.removeprefix('optional_')} is expected"
        )


def _compatible(have: str, want: str) -> bool:
    have, want = have.removeprefix("optional_"), want.removeprefix("optional_")
    return have == want or "any" in (have, want) or (have, want) == ("int", "float")


def _check_scope(
    at: str, channel: Channel, made_in: tuple[Any, ...], groups: tuple[Any, ...], skip: Any = None
) -> None:
    """A value may only be used where it surely exists once: not outside its loop or If.

    `made_in` are the groups around the producer, `groups` those around the consumer, `skip`
    a group the value may leave (the loop a Collected gathers over).
    """
    for g in made_in:
        if any(g is h for h in groups) or g is skip:
            continue
        if isinstance(g, LoopGroup):
            raise TracingError(
                f"{at}: {channel!r} is produced inside dsl.ParallelFor {g.name!r} and used "
                f"outside it; wrap it as dsl.Collected(...) to get the list"
            )
        if isinstance(g, ConditionGroup):
            raise TracingError(
                f"{at}: {channel!r} is produced inside the condition {g.name!r} and used outside "
                "it, where the task may not have run; move the consumer into the same dsl.If, "
                "or pick the branch that ran with dsl.OneOf(...)"
            )


# -- Python components -------------------------------------------------------------------------


class PythonComponent(BaseComponent[P, R]):
    """A typed Python function that runs in its own step (the embedded bootstrap calls it)."""

    def __init__(
        self,
        func: Callable[P, R],
        base_image: str | None = None,
        packages_to_install: list[str] | None = None,
        pip_index_urls: list[str] | None = None,
    ) -> None:
        super().__init__(func, infer_io(func, "component"))
        self.base_image = base_image or DEFAULT_IMAGE
        self.packages_to_install = _string_list(func, "packages_to_install", packages_to_install)
        self.pip_index_urls = _string_list(func, "pip_index_urls", pip_index_urls)
        self.source = function_source(func)


def definition_site(func: Callable[..., Any]) -> str:
    """`file:line` of a decorated function, for messages about its decorator's arguments."""
    code = getattr(func, "__code__", None)
    return f"{code.co_filename}:{code.co_firstlineno}" if code is not None else "<unknown>"


def _string_list(func: Callable[..., Any], option: str, value: Any) -> list[str]:
    """A decorator option that must be a list of strings; a lone string would be split into letters."""
    if value is None:
        return []
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        example = [value] if isinstance(value, str) else ["name==1.0"]
        raise DefinitionError(
            f"component {func.__name__!r} ({definition_site(func)}), {option}: must be a list of "
            f"strings, got {value!r}; write {option}={example!r}"
        )
    return list(value)


def function_source(func: Callable[..., Any]) -> str:
    """The function's own text, dedented, decorators removed (they need kubepipe to run)."""
    try:
        text = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError) as exc:
        raise DefinitionError(
            f"component {func.__name__!r}: its source cannot be read ({exc}); define it in a "
            ".py file, not interactively"
        ) from None
    lines = text.splitlines()
    start = next(
        i for i, line in enumerate(lines) if line.lstrip().startswith(("def ", "async def "))
    )
    return "\n".join(lines[start:]) + "\n"


@overload
def component(func: Callable[P, R]) -> PythonComponent[P, R]: ...


@overload
def component(
    func: None = None,
    *,
    base_image: str | None = None,
    packages_to_install: list[str] | None = None,
    pip_index_urls: list[str] | None = None,
    **kfp_options: Any,
) -> Callable[[Callable[P, R]], PythonComponent[P, R]]: ...


def component(
    func: Callable[P, R] | None = None,
    *,
    base_image: str | None = None,
    packages_to_install: list[str] | None = None,
    pip_index_urls: list[str] | None = None,
    **kfp_options: Any,
) -> PythonComponent[P, R] | Callable[[Callable[P, R]], PythonComponent[P, R]]:
    """Make a typed Python function a pipeline step, checked now rather than at run time.

    Other KFP keywords (`install_kfp_package`, `target_image`, ...) are accepted and ignored:
    steps never need kubepipe installed.

    Examples:
        >>> @component
        ... def add(a: int, b: int = 1) -> int:
        ...     return a + b
        >>> add(2)
        3
    """

    def wrap(f: Callable[P, R]) -> PythonComponent[P, R]:
        return PythonComponent(f, base_image, packages_to_install, pip_index_urls)

    return wrap(func) if func is not None else wrap


# -- container components -------------------------------------------------------------------


@dataclass
class ContainerSpec:
    """What a `@container_component` returns: an image and its command/args with placeholders."""

    image: str
    command: list[Any] | None = None
    args: list[Any] | None = None
    env: dict[str, str] = field(default_factory=dict)


class ContainerComponent(BaseComponent[P, R]):
    """A component whose step is a given image and command; inputs become Argo placeholders."""

    def __init__(self, func: Callable[P, R]) -> None:
        signature = infer_io(func, "container component")
        if signature.returns:
            raise DefinitionError(
                f"container component {func.__name__!r}: return ContainerSpec and declare outputs "
                "as OutputPath(...) or Output[...] parameters (return annotations are not outputs)"
            )
        super().__init__(func, signature)
        placeholders: dict[str, Any] = {}
        for decl in signature.inputs:
            cls = ARTIFACT_CLASSES.get(decl.type, Artifact)
            if decl.kind == "parameter":
                placeholders[decl.name] = "{{inputs.parameters.%s}}" % decl.name
            elif decl.kind == "input_artifact":
                placeholders[decl.name] = cls(name=decl.name, uri=ART_IN + decl.name)
            elif decl.kind == "input_path":
                placeholders[decl.name] = ART_IN + decl.name
            elif decl.kind == "output_artifact":
                placeholders[decl.name] = cls(name=decl.name, uri=ART_OUT + decl.name)
            elif decl.kind == "output_path":
                base = PARAM_OUT if decl.is_parameter else ART_OUT
                placeholders[decl.name] = base + decl.name
            else:
                raise DefinitionError(
                    f"container component {func.__name__!r}, parameter {decl.name!r}: "
                    "PipelineTaskFinalStatus needs a Python @component"
                )
        spec: Any = func(**placeholders)  # type: ignore[arg-type,call-arg]
        if not isinstance(spec, ContainerSpec):
            raise DefinitionError(
                f"container component {func.__name__!r}: must return dsl.ContainerSpec(image, "
                f"command, args), returned {type(spec).__name__}"
            )
        self.spec: ContainerSpec = spec
        self.if_present = sorted(set(if_present_inputs((spec.command or []) + (spec.args or []))))
        for name in self.if_present:
            asked = signature.input(name)
            if asked is None or asked.kind != "parameter" or not asked.has_default:
                raise DefinitionError(
                    f"container component {func.__name__!r} ({definition_site(func)}), "
                    f"IfPresentPlaceholder(input_name={name!r}): name an optional input "
                    f"parameter of the function (one with a default, e.g. `{name}: "
                    "Optional[str] = None`)"
                )

    def present_inputs(self, arguments: dict[str, Any]) -> list[str]:
        """The optional inputs an IfPresentPlaceholder asks about that a task gives a value."""
        given = []
        for name in self.if_present:
            decl = self.signature.input(name)
            value = arguments.get(name, decl.default if decl is not None else None)
            if value is not None:
                given.append(name)
        return given

    def argv(self, present: list[str]) -> tuple[list[str], list[str]]:
        """The command and args of a task that passes the optional inputs in `present`."""
        return expand(self.spec.command or [], present), expand(self.spec.args or [], present)

    def run_outside(self, *args: Any, **kwargs: Any) -> Any:
        raise TracingError(
            f"container component {self.name!r} runs only inside a pipeline; call it in a "
            "@dsl.pipeline body (its function only describes the container)"
        )


def container_component(func: Callable[P, R]) -> ContainerComponent[P, R]:
    """Make a function returning `dsl.ContainerSpec` a step that runs that container.

    Examples:
        >>> @container_component
        ... def say(text: str):
        ...     return ContainerSpec(image="alpine", command=["echo", text])
    """
    return ContainerComponent(func)


# -- importer ---------------------------------------------------------------------------------


class ImporterComponent(BaseComponent[Any, Any]):
    """Brings an existing file or directory into the pipeline as an artifact."""

    def __init__(self, artifact_class: type[Artifact], metadata: dict[str, Any]) -> None:
        def importer(artifact_uri: str) -> None:  # the signature the template exposes
            raise NotImplementedError

        sig = Signature(
            "importer",
            (
                InputDecl("artifact_uri", "parameter", "str"),
                InputDecl("artifact", "output_artifact", artifact_class.__name__),
            ),
            (),
            False,
        )
        super().__init__(importer, sig, name="importer")
        self.artifact_class = artifact_class
        self.metadata = dict(metadata)


def importer(
    artifact_uri: str | Channel,
    artifact_class: type[Artifact] = Artifact,
    reimport: bool = False,
    metadata: dict[str, Any] | None = None,
) -> PipelineTask:
    """A task whose `.output` is the artifact at `artifact_uri` (a local path or file:// uri).

    Examples:
        >>> # inside a pipeline: data = dsl.importer("/data/iris.csv", dsl.Dataset)
    """
    builder = current_builder()
    if builder is None:
        raise TracingError("dsl.importer(...) is only meaningful inside a @dsl.pipeline body")
    if not (isinstance(artifact_class, type) and issubclass(artifact_class, Artifact)):
        raise TracingError(
            f"dsl.importer: artifact_class must be an artifact class, got {artifact_class!r}"
        )
    comp = ImporterComponent(artifact_class, metadata or {})
    return comp.add_task(builder, (), {"artifact_uri": artifact_uri})


# -- raw Argo templates -----------------------------------------------------------------------

_TEMPLATE_TYPES = ("str", "int", "float", "bool", "list", "dict")


class TemplateComponent(BaseComponent[Any, Any]):
    """A step that is a given Argo template (a `resource`, `script`, `http`... template).

    Why: some steps are not a Python function or one container, e.g. a Kubernetes object that a
    controller runs (a Katib Experiment in a `resource` template). The template is kept as
    written; only its name, `inputs.parameters` (one per declared input) and the task's retry
    and timeout are set by the compiler. Outputs are the template's `outputs.parameters`, typed
    by `outputs` so downstream tasks get checked, re-typed values.
    """

    def __init__(
        self,
        name: str,
        template: dict[str, Any],
        inputs: dict[str, str],
        outputs: dict[str, str],
    ) -> None:
        where = f"dsl.template_component({name!r}) at {user_line()}"
        if not isinstance(template, dict) or not template:
            raise DefinitionError(f"{where}: template must be an Argo template as a dict")
        for label, table in (("inputs", inputs), ("outputs", outputs)):
            for key, type_name in table.items():
                if type_name not in _TEMPLATE_TYPES:
                    raise DefinitionError(
                        f"{where}: {label}[{key!r}] has type {type_name!r}; use one of "
                        f"{', '.join(_TEMPLATE_TYPES)}"
                    )
        declared = {p.get("name") for p in (template.get("outputs") or {}).get("parameters") or []}
        missing = sorted(set(outputs) - declared)
        if missing:
            raise DefinitionError(
                f"{where}: outputs {missing} are not in the template's outputs.parameters "
                f"(it has: {', '.join(sorted(str(n) for n in declared)) or 'none'})"
            )
        from engine import spec as s

        try:
            s.Template.model_validate(template)
        except ValueError as exc:
            raise DefinitionError(f"{where}: not a valid Argo template: {exc}") from None

        def step(**values: Any) -> None:  # the signature the task exposes
            raise TracingError(f"{where}: a template component runs only inside a pipeline")

        sig = Signature(
            kebab(name),
            tuple(InputDecl(k, "parameter", v) for k, v in inputs.items()),
            tuple(OutputDecl(k, "parameter", v) for k, v in outputs.items()),
            True,
        )
        super().__init__(step, sig, name=name)
        self.template = dict(template)

    def run_outside(self, *args: Any, **kwargs: Any) -> Any:
        raise TracingError(
            f"template component {self.name!r} runs only inside a pipeline; call it in a "
            "@dsl.pipeline body"
        )


def template_component(
    name: str,
    template: dict[str, Any],
    *,
    inputs: dict[str, str] | None = None,
    outputs: dict[str, str] | None = None,
) -> TemplateComponent:
    """A component whose step is the raw Argo `template`; call it in a pipeline for a task.

    `inputs` maps each input parameter the template reads as `{{inputs.parameters.x}}` to its
    type, `outputs` each output parameter it declares to its type (str, int, float, bool, list,
    dict); non-str values travel as JSON, as every other output does.

    Examples:
        >>> echo = template_component(
        ...     "make-map",
        ...     {"resource": {"action": "create", "manifest": "..."},
        ...      "outputs": {"parameters": [{"name": "uid",
        ...                                  "valueFrom": {"jsonPath": "{.metadata.uid}"}}]}},
        ...     outputs={"uid": "str"},
        ... )
    """
    return TemplateComponent(name, template, dict(inputs or {}), dict(outputs or {}))


__all__ = [
    "BaseComponent",
    "ContainerComponent",
    "ContainerSpec",
    "ImporterComponent",
    "LoopItem",
    "PipelineParam",
    "PythonComponent",
    "TemplateComponent",
    "component",
    "container_component",
    "importer",
    "template_component",
]
