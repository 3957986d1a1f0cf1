"""`@pipeline` and the control-flow blocks: the body is traced once into tasks and groups.

Tracing happens at decoration time, so wiring mistakes surface where the pipeline is defined.
The trace runs with a `Builder` set in a ContextVar (see `_graph`); components called inside it
record tasks instead of running.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar, overload

from dsl._graph import (
    Builder,
    ChainState,
    Channel,
    Collected,
    ConditionGroup,
    ExitGroup,
    Group,
    LoopGroup,
    LoopItem,
    OneOf,
    PipelineParam,
    PipelineTask,
    Predicate,
    TaskOutput,
    activate,
    current_builder,
    deactivate,
    kebab,
    user_line,
)
from dsl._signature import OutputDecl, Signature, infer_io
from dsl.component import BaseComponent
from dsl.errors import DefinitionError, TracingError

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class Graph:
    """A traced pipeline body: its tasks, its groups and the channels it returns."""

    tasks: list[PipelineTask]
    groups: list[Group]
    params: dict[str, PipelineParam]
    outputs: dict[str, Channel | Collected]


class Pipeline(BaseComponent[P, R]):
    """A traced pipeline; also a component, so another pipeline can call it (a nested DAG)."""

    def __init__(self, func: Callable[P, R], name: str | None, description: str | None) -> None:
        signature = infer_io(func, "pipeline")
        for decl in signature.inputs:
            if decl.kind != "parameter":
                raise DefinitionError(
                    f"pipeline {func.__name__!r}, parameter {decl.name!r}: pipeline inputs are "
                    "parameters (str, int, float, bool, list, dict); artifacts come from tasks "
                    "or dsl.importer"
                )
        self.graph = _trace(func, signature, name or kebab(func.__name__))
        signature = Signature(
            signature.function,
            signature.inputs,
            tuple(_output_decl(n, c) for n, c in self.graph.outputs.items()),
            signature.named_tuple,
        )
        super().__init__(func, signature, name=name)
        self.description = description or self.description

    def run_outside(self, *args: Any, **kwargs: Any) -> Any:
        raise TracingError(
            f"pipeline {self.name!r} cannot be called outside another pipeline; compile it with "
            f"dsl.compile({self.python_func.__name__}, 'pipeline.yaml') or run it with "
            "`kubepipe run FILE.py`"
        )


def _output_decl(name: str, value: Channel | Collected) -> OutputDecl:
    """A pipeline output as its callers see it; a Collected parameter is a list."""
    if isinstance(value, Collected):
        if value.is_artifact:
            return OutputDecl(name, "artifact", value.channel.type, is_list=True)
        return OutputDecl(name, "parameter", "list")
    return OutputDecl(name, "artifact" if value.is_artifact else "parameter", value.type)


def _trace(func: Callable[..., Any], signature: Signature, name: str) -> Graph:
    builder = Builder(pipeline=f"pipeline {func.__name__!r}")
    params = {
        d.name: PipelineParam(d.name, d.type) for d in signature.inputs if d.kind == "parameter"
    }
    token = activate(builder)
    try:
        result = func(**params)
    finally:
        deactivate(token)
    if builder.stack:
        raise TracingError(f"pipeline {func.__name__!r}: a with-block was left open")
    outputs = _pipeline_outputs(func.__name__, result, signature)
    _check_after_cycles(func.__name__, builder.tasks)
    return Graph(builder.tasks, builder.groups, params, outputs)


def _pipeline_outputs(
    fname: str, result: Any, signature: Signature
) -> dict[str, Channel | Collected]:
    if result is None:
        return {}
    if isinstance(result, PipelineTask):
        result = result.output
    if isinstance(result, tuple) and hasattr(result, "_fields"):
        pairs = list(zip(result._fields, result))
    elif isinstance(result, (Channel, Collected)):
        pairs = [("Output", result)]
    else:
        raise TracingError(
            f"pipeline {fname!r}: return a task output (task.output), a dsl.Collected, a "
            f"NamedTuple of them or nothing, not {type(result).__name__}"
        )
    outputs: dict[str, Channel | Collected] = {}
    for name, channel in pairs:
        if isinstance(channel, PipelineTask):
            channel = channel.output
        if not isinstance(channel, (TaskOutput, OneOf, Collected)):
            raise TracingError(
                f"pipeline {fname!r}: output {name!r} must be a task output, dsl.OneOf or "
                f"dsl.Collected, got {channel!r}"
            )
        if isinstance(channel, Collected):
            # Only the groups around the loop matter: the list exists once the loop ended.
            made_in = channel.loop.parents
        elif isinstance(channel, OneOf):
            made_in = channel.groups
        else:
            made_in = channel.task.groups
        for g in made_in:
            if not isinstance(g, ExitGroup):
                raise TracingError(
                    f"pipeline {fname!r}: output {name!r} ({channel!r}) is made "
                    f"inside {g.name!r}; pipeline outputs must come from top-level tasks"
                )
        outputs[name] = channel
    return outputs


def _check_after_cycles(fname: str, tasks: list[PipelineTask]) -> None:
    """`.after()` can point forward in the body; data edges cannot. Find any cycle they close."""
    deps = {id(t): t.upstream() for t in tasks}
    state: dict[int, int] = {}
    path: list[PipelineTask] = []

    def visit(t: PipelineTask) -> None:
        state[id(t)] = 1
        path.append(t)
        for d in deps.get(id(t), []):
            if state.get(id(d)) == 1:
                cycle = path[path.index(d) :] + [d]
                raise TracingError(
                    f"pipeline {fname!r}: .after() makes a cycle: "
                    + " -> ".join(f"{c.name} ({c.line})" for c in reversed(cycle))
                    + "; remove one of these .after() calls"
                )
            if state.get(id(d)) is None:
                visit(d)
        path.pop()
        state[id(t)] = 2

    for t in tasks:
        if id(t) not in state:
            visit(t)


@overload
def pipeline(func: Callable[P, R]) -> Pipeline[P, R]: ...


@overload
def pipeline(
    func: None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    **kfp_options: Any,
) -> Callable[[Callable[P, R]], Pipeline[P, R]]: ...


def pipeline(
    func: Callable[P, R] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    **kfp_options: Any,
) -> Pipeline[P, R] | Callable[[Callable[P, R]], Pipeline[P, R]]:
    """Trace a function of components into a pipeline (compiled to one Argo Workflow).

    Parameters with defaults become the workflow's arguments; returned task outputs become its
    outputs. `pipeline_root`, `display_name` and other KFP keywords are accepted and ignored.

    Examples:
        >>> # @pipeline(name="add-twice")
        >>> # def add_twice(a: int = 1) -> int:
        >>> #     return add(a=add(a=a).output).output
    """

    def wrap(f: Callable[P, R]) -> Pipeline[P, R]:
        return Pipeline(f, name, description)

    return wrap(func) if func is not None else wrap


# -- control flow ------------------------------------------------------------------------------


def _builder(what: str) -> Builder:
    builder = current_builder()
    if builder is None:
        raise TracingError(f"{what} is only meaningful inside a @dsl.pipeline body")
    return builder


class _Block:
    """A `with` block that opens a group while the body is traced."""

    group: Group

    def _open(self, builder: Builder, group: Group) -> None:
        self._builder = builder
        self.group = group
        builder.groups.append(group)
        builder.stack.append(group)

    def __exit__(self, *exc: object) -> None:
        self._builder.stack.pop()


class If(_Block):
    """`with dsl.If(task.output == 'heads'):` tasks inside run only when the condition holds."""

    def __init__(self, condition: Any, name: str | None = None) -> None:
        self.condition = condition
        self.name = name

    def _clauses(self, builder: Builder) -> tuple[ChainState | None, list[Predicate]]:
        return None, [_as_predicate(self.condition, "dsl.If")]

    def __enter__(self) -> If:
        builder = _builder(type(self).__name__)
        previous, own = self._clauses(builder)
        earlier = list(previous.predicates) if previous else []
        depth = len(builder.stack)
        group = ConditionGroup(
            name=builder.group_name("condition"),
            parents=tuple(builder.stack),
            seq=builder.next_seq(),
            clauses=tuple([p.negate() for p in earlier] + own),
            branches=previous.branches if previous else [],
            is_else=isinstance(self, Else),
        )
        group.branches.append(group)
        self._branches = group.branches
        self._open(builder, group)
        self._depth = depth
        self._chain = earlier + own
        return self

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self._builder.chains[self._depth] = ChainState(
            len(self._builder.tasks) + len(self._builder.groups),
            tuple(self._chain),
            self._branches,
        )


Condition = If  # KFP's deprecated alias


class Elif(If):
    """`with dsl.Elif(...)`: right after an If/Elif block; runs when none before it did."""

    def _clauses(self, builder: Builder) -> tuple[ChainState | None, list[Predicate]]:
        return _previous_chain(builder, type(self).__name__), [
            _as_predicate(self.condition, "dsl.Elif")
        ]


class Else(If):
    """`with dsl.Else():` right after an If/Elif block; runs when none of them did."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(None, name)

    def _clauses(self, builder: Builder) -> tuple[ChainState | None, list[Predicate]]:
        return _previous_chain(builder, "Else"), []


def _previous_chain(builder: Builder, what: str) -> ChainState:
    found = builder.chains.get(len(builder.stack))
    marker = len(builder.tasks) + len(builder.groups)
    if found is None or found.marker != marker or found.branches[-1].is_else:
        raise TracingError(
            f"dsl.{what} at {user_line()} must directly follow a dsl.If or dsl.Elif block "
            "at the same level"
        )
    return found


def _as_predicate(condition: Any, what: str) -> Predicate:
    if isinstance(condition, Predicate):
        return condition
    if isinstance(condition, Channel):
        if condition.type.removeprefix("optional_") != "bool":
            raise TracingError(f"{what}({condition!r}): compare it, e.g. {what}(x == 'value')")
        return Predicate(condition, "==", True)
    raise TracingError(
        f"{what} at {user_line()} needs a comparison of a task output or pipeline parameter, "
        f"e.g. {what}(task.output == 'heads'); got {condition!r}"
    )


class ParallelFor(_Block):
    """`with dsl.ParallelFor(items, parallelism=N) as item:` the body runs once per item.

    `items` is a static list, a pipeline parameter or a task output holding a JSON list.
    """

    def __init__(self, items: Any, name: str | None = None, parallelism: int | None = None) -> None:
        self.items = items
        self.parallelism = parallelism

    def __enter__(self) -> LoopItem:
        builder = _builder("dsl.ParallelFor")
        items = self.items
        if isinstance(items, PipelineTask):
            items = items.output
        if isinstance(items, Channel):
            if items.is_artifact:
                raise TracingError(
                    f"dsl.ParallelFor over {items!r}: loop over a list parameter, not an artifact"
                )
            if items.type.removeprefix("optional_") not in ("list", "any"):
                raise TracingError(
                    f"dsl.ParallelFor over {items!r} at {user_line()}: it is a {items.type}, "
                    "not a list; annotate the producer's return as List[...]"
                )
        elif not isinstance(items, (list, tuple)):
            raise TracingError(
                f"dsl.ParallelFor at {user_line()}: items must be a list or a list-valued "
                f"output, got {type(items).__name__}"
            )
        else:
            items = list(items)
        if self.parallelism is not None and (
            not isinstance(self.parallelism, int) or self.parallelism < 1
        ):
            raise TracingError(
                f"dsl.ParallelFor: parallelism must be a positive int, got {self.parallelism!r}"
            )
        group = LoopGroup(
            name=builder.group_name("for-loop"),
            parents=tuple(builder.stack),
            seq=builder.next_seq(),
            is_dag=True,
            items=items,
            parallelism=self.parallelism,
        )
        group.item = LoopItem(group)
        self._open(builder, group)
        return group.item


class ExitHandler(_Block):
    """`with dsl.ExitHandler(exit_task):` exit_task runs after the block, whatever happens in it."""

    def __init__(self, exit_task: PipelineTask, name: str | None = None) -> None:
        self.exit_task = exit_task

    def __enter__(self) -> ExitHandler:
        builder = _builder("dsl.ExitHandler")
        task = self.exit_task
        if not isinstance(task, PipelineTask) or not any(t is task for t in builder.tasks):
            raise TracingError(
                f"dsl.ExitHandler at {user_line()}: pass a task created in this pipeline before "
                "the with-block"
            )
        if task.after_tasks or any(
            isinstance(v, (TaskOutput, Collected)) for v in task.arguments.values()
        ):
            raise TracingError(
                f"dsl.ExitHandler: exit task {task.name!r} must not depend on other tasks"
            )
        if len(task.groups) != len(builder.stack) or any(
            a is not b for a, b in zip(task.groups, builder.stack)
        ):
            raise TracingError(
                f"dsl.ExitHandler: exit task {task.name!r} must be created at the same level"
            )
        group = ExitGroup(
            name=builder.group_name("exit-handler"),
            parents=tuple(builder.stack),
            seq=builder.next_seq(),
            is_dag=True,
            exit_task=task,
        )
        self._open(builder, group)
        return self


__all__ = ["Condition", "Elif", "Else", "ExitHandler", "If", "ParallelFor", "Pipeline", "pipeline"]
