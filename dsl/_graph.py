"""What tracing a pipeline body builds: channels (values not known yet), tasks and groups.

The pipeline being traced lives in a ContextVar (`current_builder`), never in a class attribute,
so two pipelines can be traced in different threads or nested (a pipeline calling a pipeline
traces the inner one on its own, earlier). Nothing here runs a step or touches the engine.
"""

from __future__ import annotations

import itertools
import re
import sys
from collections.abc import Container
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dsl.errors import TracingError

if TYPE_CHECKING:
    from dsl.component import BaseComponent

_BUILDER: ContextVar[Builder | None] = ContextVar("kubepipe_pipeline_builder", default=None)


def current_builder() -> Builder | None:
    """The pipeline whose body is being traced in this context, if any."""
    return _BUILDER.get()


def user_line() -> str:
    """`file:line` of the first caller frame outside the dsl package (for messages)."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] == "dsl":
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return "<unknown>"
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def kebab(name: str) -> str:
    """A Python name as an Argo/DNS-friendly name: `train_model` -> `train-model`."""
    text = re.sub(r"[^a-z0-9-]+", "-", name.lower().replace("_", "-")).strip("-")
    return text or "task"


def unique_name(base: str, taken: Container[str]) -> str:
    """`base`, or `base-2`, `base-3`...: the first that is not taken (Argo names must be unique)."""
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name


# -- channels ------------------------------------------------------------------------------


class Channel:
    """A value known only when the pipeline runs: a pipeline input, a task output, a loop item.

    Comparisons build `Predicate`s for `dsl.If`; using one as a Python bool is an error, because
    the value does not exist while the pipeline is traced.
    """

    type: str = "str"
    is_artifact: bool = False
    __hash__ = object.__hash__

    def _predicate(self, op: str, other: Any) -> Predicate:
        return Predicate(self, op, other)

    def __eq__(self, other: object) -> Predicate:  # type: ignore[override]
        return self._predicate("==", other)

    def __ne__(self, other: object) -> Predicate:  # type: ignore[override]
        return self._predicate("!=", other)

    def __lt__(self, other: Any) -> Predicate:
        return self._predicate("<", other)

    def __le__(self, other: Any) -> Predicate:
        return self._predicate("<=", other)

    def __gt__(self, other: Any) -> Predicate:
        return self._predicate(">", other)

    def __ge__(self, other: Any) -> Predicate:
        return self._predicate(">=", other)

    def __bool__(self) -> bool:
        raise TracingError(
            f"{self!r} has no value while the pipeline is traced; use `with dsl.If(...)` "
            "instead of a Python `if`"
        )

    def __iter__(self) -> Any:
        raise TracingError(
            f"{self!r} cannot be iterated while the pipeline is traced; use "
            "`with dsl.ParallelFor(...) as item`"
        )


class PipelineParam(Channel):
    """An input of the pipeline being traced."""

    def __init__(self, name: str, type_name: str) -> None:
        self.name = name
        self.type = type_name

    def __repr__(self) -> str:
        return f"pipeline parameter {self.name!r}"


class TaskOutput(Channel):
    """`task.outputs['name']`: a parameter or artifact another task produces."""

    def __init__(
        self,
        task: PipelineTask,
        name: str,
        type_name: str,
        is_artifact: bool,
        is_list: bool = False,
    ) -> None:
        self.task = task
        self.name = name
        self.type = type_name
        self.is_artifact = is_artifact
        self.is_list = is_list  # a nested pipeline's dsl.Collected list of artifacts

    def __repr__(self) -> str:
        what = f"list of {self.type} artifacts " if self.is_list else ""
        return f"output {what}{self.name!r} of task {self.task.name!r}"


class LoopItem(Channel):
    """The current item of a `dsl.ParallelFor`; `item.key` reads a key of dict items."""

    type = "any"

    def __init__(self, loop: LoopGroup, field_name: str | None = None) -> None:
        self.loop = loop
        self.field = field_name
        self._fields: dict[str, LoopItem] = {}

    def __getattr__(self, name: str) -> LoopItem:
        if name.startswith("_"):
            raise AttributeError(name)
        if self.field is not None:
            raise TracingError(f"{self!r}: only one level of item.key is supported")
        if name not in self._fields:
            self._fields[name] = LoopItem(self.loop, name)
        return self._fields[name]

    def fields(self) -> list[LoopItem]:
        """The `item.key` sub-items used so far, in first-use order."""
        return list(self._fields.values())

    def __repr__(self) -> str:
        suffix = f".{self.field}" if self.field else ""
        return f"loop item{suffix} of {self.loop.name!r}"


@dataclass(frozen=True, eq=False)
class Collected:
    """`dsl.Collected(task.output)`: every iteration's value of a loop output, as a list.

    Of an artifact output, the consumer gets `Input[List[...]]`: each iteration then stores its
    artifact under one key prefix and publishes its pod name, so the consumer can read the
    prefix as one directory and order the entries by iteration (see `_dag`).
    """

    channel: TaskOutput

    def __post_init__(self) -> None:
        if isinstance(self.channel, PipelineTask):  # KFP accepts the task for its one output
            object.__setattr__(self, "channel", self.channel.output)
        if not isinstance(self.channel, TaskOutput) or self.channel.is_list:
            raise TracingError(
                f"dsl.Collected takes an output of a task inside a dsl.ParallelFor, "
                f"got {self.channel!r} ({user_line()})"
            )
        if not any(isinstance(g, LoopGroup) for g in self.channel.task.groups):
            raise TracingError(
                f"dsl.Collected({self.channel!r}) at {user_line()}: task "
                f"{self.channel.task.name!r} is not inside a dsl.ParallelFor; pass its output "
                "directly"
            )
        if self.channel.is_artifact:
            self.channel.task.collected.add(self.channel.name)

    @property
    def is_artifact(self) -> bool:
        return self.channel.is_artifact

    @property
    def loop(self) -> LoopGroup:
        return [g for g in self.channel.task.groups if isinstance(g, LoopGroup)][-1]


def channels_in(value: Any) -> list[Channel]:
    """The channels an argument reads: itself, the channel a `Collected` gathers, or every
    branch output a `OneOf` picks from."""
    if isinstance(value, Collected):
        return [value.channel]
    if isinstance(value, OneOf):
        return list(value.channels)
    return [value] if isinstance(value, Channel) else []


class OneOf(Channel):
    """`dsl.OneOf(a.output, b.output)`: the value of whichever If/Elif/Else branch ran.

    Each argument is an output of a task placed directly in one branch of the same chain, one
    per branch, and the chain ends with `dsl.Else`, so exactly one of them exists at run time.
    """

    def __init__(self, *outputs: Any) -> None:
        builder = current_builder()
        where = f"dsl.OneOf at {user_line()}"
        if builder is None:
            raise TracingError(f"{where}: only meaningful inside a @dsl.pipeline body")
        channels = [o.output if isinstance(o, PipelineTask) else o for o in outputs]
        if len(channels) < 2:
            raise TracingError(
                f"{where}: give the outputs of two or more branches of one dsl.If/Elif/Else"
            )
        branches: list[ConditionGroup] = []
        for c in channels:
            if not isinstance(c, TaskOutput) or c.is_artifact:
                raise TracingError(
                    f"{where}: {c!r} is not a parameter output of a task; pass task.output "
                    "(artifacts cannot be picked by dsl.OneOf yet)"
                )
            branch = c.task.groups[-1] if c.task.groups else None
            if not isinstance(branch, ConditionGroup):
                raise TracingError(
                    f"{where}: {c!r} does not come from a task placed directly in a "
                    "dsl.If/Elif/Else branch"
                )
            if any(b is branch for b in branches):
                raise TracingError(f"{where}: two outputs come from the branch {branch.name!r}")
            branches.append(branch)
        chain = branches[0].branches
        if any(b.branches is not chain for b in branches):
            raise TracingError(f"{where}: the outputs come from different dsl.If chains")
        missing = [b.name for b in chain if not any(b is x for x in branches)]
        if missing or not chain[-1].is_else:
            raise TracingError(
                f"{where}: give one output from every branch of the dsl.If/Elif chain, which "
                f"must end with dsl.Else, so that one value always exists (missing: "
                f"{', '.join(missing) or 'a dsl.Else branch'})"
            )
        types = sorted({c.type for c in channels})
        if len(types) > 1:
            raise TracingError(f"{where}: the outputs have different types ({', '.join(types)})")
        order = {id(b): i for i, b in enumerate(chain)}
        pairs = sorted(zip(branches, channels), key=lambda pair: order[id(pair[0])])
        self.channels: tuple[TaskOutput, ...] = tuple(c for _, c in pairs)  # type: ignore[misc]
        self.branches = tuple(chain)
        self.groups = chain[0].parents  # the groups open around the chain
        self.type = types[0]
        self.name = builder.unique("oneof")

    def __repr__(self) -> str:
        return f"dsl.OneOf({', '.join(repr(c) for c in self.channels)})"


@dataclass(frozen=True, eq=False)
class Predicate:
    """`left op right` (a channel against a constant or channel), maybe negated (Elif/Else)."""

    left: Any
    op: str
    right: Any
    negated: bool = False

    def negate(self) -> Predicate:
        return Predicate(self.left, self.op, self.right, not self.negated)

    def channels(self) -> list[Channel]:
        return [v for v in (self.left, self.right) if isinstance(v, Channel)]

    def __bool__(self) -> bool:
        raise TracingError(
            "a comparison of task outputs has no value while the pipeline is traced; "
            "use `with dsl.If(task.output == ...)` instead of a Python `if`"
        )


# -- groups ----------------------------------------------------------------------------------


@dataclass(eq=False)
class Group:
    """A `with` block in the pipeline body; `parents` are the groups open around it."""

    name: str
    parents: tuple[Group, ...]
    seq: int
    is_dag: bool = False  # compiles to a DAG template of its own


@dataclass(eq=False)
class ConditionGroup(Group):
    """One branch of an If/Elif/Else chain; `branches` is the whole chain, shared by each."""

    clauses: tuple[Predicate, ...] = ()
    branches: list[ConditionGroup] = field(default_factory=list)
    is_else: bool = False


@dataclass(frozen=True)
class ChainState:
    """The If/Elif chain that just closed at one nesting depth, for a following Elif/Else.

    `marker` counts the tasks and groups when it closed: anything traced since breaks the chain.
    """

    marker: int
    predicates: tuple[Predicate, ...]
    branches: list[ConditionGroup]


@dataclass(eq=False)
class LoopGroup(Group):
    items: Any = None  # a static list or a Channel holding a JSON list
    parallelism: int | None = None
    item: LoopItem | None = None


@dataclass(eq=False)
class ExitGroup(Group):
    exit_task: PipelineTask | None = None


# -- tasks -----------------------------------------------------------------------------------


@dataclass(eq=False)
class PipelineTask:
    """One call of a component inside a pipeline: its arguments, groups and settings.

    `.output` / `.outputs['x']` are channels for downstream tasks; the `set_*` methods record
    Argo settings (retryStrategy, resources, env, activeDeadlineSeconds) and return the task,
    so calls chain as in KFP.
    """

    name: str
    component: BaseComponent
    arguments: dict[str, Any]
    groups: tuple[Group, ...]
    line: str
    seq: int
    after_tasks: list[PipelineTask] = field(default_factory=list)
    retry: dict[str, Any] | None = None
    caching: bool | None = None
    limits: dict[str, str] = field(default_factory=dict)
    requests: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    display_name: str | None = None
    timeout_seconds: int | None = None
    accelerator_type: str | None = None
    _outputs: dict[str, TaskOutput] = field(default_factory=dict)
    collected: set[str] = field(default_factory=set)  # artifact outputs a dsl.Collected reads

    # -- outputs ---------------------------------------------------------------------------
    @property
    def outputs(self) -> dict[str, TaskOutput]:
        """Every output of the task by name (returned values, Output[...] and OutputPath)."""
        for out in self.component.signature.outputs:
            if out.name not in self._outputs:
                self._outputs[out.name] = TaskOutput(
                    self, out.name, out.type, out.kind == "artifact", out.is_list
                )
        return _Outputs(self, self._outputs)

    @property
    def output(self) -> TaskOutput:
        """The single output of the task; a TracingError when it has none or several."""
        outs = self.component.signature.outputs
        if len(outs) != 1:
            names = ", ".join(repr(o.name) for o in outs) or "none"
            raise TracingError(
                f"task {self.name!r} ({self.line}): .output needs exactly one output, "
                f"{self.component.name!r} has {names}; use .outputs['name']"
            )
        return self.outputs[outs[0].name]

    def upstream(self) -> list[PipelineTask]:
        """Tasks this one waits for: `.after()` targets, producers of its arguments, and the
        producers its enclosing conditions and loops read."""
        found = list(self.after_tasks)
        for value in self.arguments.values():
            found += [c.task for c in channels_in(value) if isinstance(c, TaskOutput)]
        for g in self.groups:
            if isinstance(g, ConditionGroup):
                found += [
                    c.task for p in g.clauses for c in p.channels() if isinstance(c, TaskOutput)
                ]
            if isinstance(g, LoopGroup) and isinstance(g.items, TaskOutput):
                found.append(g.items.task)
        return found

    def metadata_channel(self, artifact: TaskOutput) -> TaskOutput:
        """The JSON `<name>-metadata` side parameter of an output artifact."""
        key = artifact.name + "-metadata"
        if key not in self._outputs:
            self._outputs[key] = TaskOutput(
                self, key, "list" if artifact.is_list else "dict", False
            )
        return self._outputs[key]

    def pod_channel(self, artifact: TaskOutput) -> TaskOutput:
        """The `<name>-pod` side parameter: the pod (and key) that stored a collected artifact;
        of a nested pipeline, the list of them."""
        key = artifact.name + "-pod"
        if key not in self._outputs:
            self._outputs[key] = TaskOutput(self, key, "list" if artifact.is_list else "str", False)
        return self._outputs[key]

    # -- settings (KFP names) --------------------------------------------------------------
    def after(self, *tasks: PipelineTask) -> PipelineTask:
        """Run after `tasks` even though no data flows between them."""
        for t in tasks:
            if not isinstance(t, PipelineTask):
                raise TracingError(f"task {self.name!r}: .after() takes tasks, got {t!r}")
            self.after_tasks.append(t)
        return self

    def set_retry(
        self,
        num_retries: int,
        backoff_duration: str | None = None,
        backoff_factor: float | None = None,
        backoff_max_duration: str | None = None,
    ) -> PipelineTask:
        """Retry a failed step up to `num_retries` times (Argo retryStrategy)."""
        self.retry = {
            "limit": num_retries,
            "duration": backoff_duration,
            "factor": backoff_factor,
            "max_duration": backoff_max_duration,
        }
        return self

    def set_caching_options(
        self, enable_caching: bool, cache_key: str | None = None
    ) -> PipelineTask:
        """Turn step caching on or off for this task (the `kubepipe.io/cache` annotation)."""
        self.caching = enable_caching
        return self

    def set_cpu_limit(self, cpu: str) -> PipelineTask:
        self.limits["cpu"] = str(cpu)
        return self

    def set_cpu_request(self, cpu: str) -> PipelineTask:
        self.requests["cpu"] = str(cpu)
        return self

    def set_memory_limit(self, memory: str) -> PipelineTask:
        self.limits["memory"] = str(memory)
        return self

    def set_memory_request(self, memory: str) -> PipelineTask:
        self.requests["memory"] = str(memory)
        return self

    def set_accelerator_type(self, accelerator: str) -> PipelineTask:
        """The resource name to request accelerators as (default `nvidia.com/gpu`)."""
        self.accelerator_type = accelerator
        return self

    def set_accelerator_limit(self, limit: int | str) -> PipelineTask:
        key = (
            self.accelerator_type
            if self.accelerator_type and "/" in self.accelerator_type
            else "nvidia.com/gpu"
        )
        self.limits[key] = str(limit)
        return self

    def set_env_variable(self, name: str, value: str) -> PipelineTask:
        self.env[name] = str(value)
        return self

    def set_display_name(self, name: str) -> PipelineTask:
        """Name the task in the DAG (made DNS-friendly and unique when compiled)."""
        self.display_name = name
        return self

    def set_timeout(self, seconds: int) -> PipelineTask:
        """Fail the step when it runs longer than `seconds` (Argo activeDeadlineSeconds)."""
        self.timeout_seconds = int(seconds)
        return self

    def __repr__(self) -> str:
        return f"PipelineTask({self.name!r})"


class _Outputs(dict):  # type: ignore[type-arg]
    """`task.outputs`: a dict whose missing keys say which outputs exist."""

    def __init__(self, task: PipelineTask, data: dict[str, TaskOutput]) -> None:
        super().__init__({k: v for k, v in data.items() if not k.endswith(("-metadata", "-pod"))})
        self._task = task

    def __missing__(self, key: str) -> TaskOutput:
        names = ", ".join(repr(k) for k in self) or "none"
        raise TracingError(f"task {self._task.name!r} has no output {key!r} (its outputs: {names})")


# -- the builder -----------------------------------------------------------------------------


@dataclass(eq=False)
class Builder:
    """The state of one pipeline body being traced."""

    pipeline: str
    tasks: list[PipelineTask] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    stack: list[Group] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    chains: dict[int, ChainState] = field(default_factory=dict)  # by nesting depth
    _seq: itertools.count = field(default_factory=itertools.count)  # type: ignore[type-arg]
    _group_ids: itertools.count = field(default_factory=lambda: itertools.count(1))  # type: ignore[type-arg]

    def next_seq(self) -> int:
        return next(self._seq)

    def unique(self, base: str) -> str:
        name = unique_name(base, self.names)
        self.names.add(name)
        return name

    def group_name(self, kind: str) -> str:
        return self.unique(f"{kind}-{next(self._group_ids)}")


def activate(builder: Builder) -> Any:
    return _BUILDER.set(builder)


def deactivate(token: Any) -> None:
    _BUILDER.reset(token)
