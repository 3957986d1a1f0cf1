"""One traced pipeline as Argo DAG templates, with values threaded across block boundaries.

The entry DAG template is the pipeline; each `ParallelFor` and `ExitHandler` block is a DAG
template of its own (loops need one task to fan out; exit hooks need one node to guard);
conditions are `when` on the tasks inside them. A value that crosses a block boundary is passed
through the block template's inputs (going in) and outputs (coming out, which is also how
`Collected` gets Argo's aggregated JSON list). Threaded names are `<task>--<output>`, which no
Python parameter name can collide with.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from dsl._conditions import when_text
from dsl._graph import (
    Channel,
    Collected,
    ExitGroup,
    Group,
    LoopGroup,
    LoopItem,
    OneOf,
    PipelineTask,
    TaskOutput,
    kebab,
    unique_name,
)
from dsl._wire import encode_constant, expression_ref
from dsl.component import BaseComponent, ImporterComponent, PythonComponent
from dsl.pipeline import Pipeline
from engine import spec as s

if TYPE_CHECKING:
    from dsl._registry import TemplateSet


class _Root:
    """The pipeline's own DAG: the level every other level is nested in."""

    name = "root"
    is_dag = True


ROOT: Any = _Root()


def dag_chain(groups: tuple[Group, ...]) -> list[Any]:
    """The DAG levels from the root down to the innermost block that is a DAG template."""
    return [ROOT] + [g for g in groups if g.is_dag]


class GraphCompiler:
    """One pipeline's DAG templates, with values threaded across block boundaries."""

    def __init__(self, templates: TemplateSet, pipe: Pipeline[Any, Any], name: str) -> None:
        self.templates = templates
        self.pipe = pipe
        self.graph = pipe.graph
        self.name = name
        self.inputs: dict[int, dict[str, Channel]] = {}
        self.exposed: dict[int, dict[str, Channel]] = {}
        self.exit_tasks = {id(g.exit_task) for g in self.graph.groups if isinstance(g, ExitGroup)}
        self.task_names = self._final_names()
        self.levels: list[Any] = [ROOT] + [g for g in self.graph.groups if g.is_dag]

    def _final_names(self) -> dict[int, str]:
        names: dict[int, str] = {}
        used = {g.name for g in self.graph.groups}
        for t in self.graph.tasks:
            name = unique_name(kebab(t.display_name) if t.display_name else t.name, used)
            used.add(name)
            names[id(t)] = name
        return names

    # -- structure -----------------------------------------------------------------------
    def chain_of(self, ch: Any) -> list[Any]:
        if isinstance(ch, TaskOutput):
            return dag_chain(ch.task.groups)
        if isinstance(ch, LoopItem):
            return dag_chain(ch.loop.parents) + [ch.loop]
        if isinstance(ch, OneOf):
            return dag_chain(ch.groups)
        return [ROOT]

    def parent(self, level: Any) -> Any:
        return dag_chain(level.parents)[-1]

    def level_template(self, level: Any) -> str:
        return self.name if level is ROOT else f"{self.name}-{level.name}"

    def ref_name(self, ch: Any) -> str:
        if isinstance(ch, TaskOutput):
            return f"{self.task_names[id(ch.task)]}--{ch.name}"
        if isinstance(ch, LoopItem):
            return f"{ch.loop.name}--item" + (f"--{ch.field}" if ch.field else "")
        return str(ch.name)

    # -- resolution ------------------------------------------------------------------------
    def resolve(self, ch: Any, level: Any) -> str:
        """The `{{...}}` expression that reads channel `ch` inside the DAG template of `level`."""
        kind = "artifacts" if ch.is_artifact else "parameters"
        chain = self.chain_of(ch)
        index = next((i for i, lv in enumerate(chain) if lv is level), None)
        if index is None:  # from an enclosing level: thread it in as an input
            name = self.ref_name(ch)
            self.inputs.setdefault(id(level), {})[name] = ch
            self.resolve(ch, self.parent(level))
            return "{{inputs.%s.%s}}" % (kind, name)
        if index == len(chain) - 1:
            if isinstance(ch, OneOf):
                return "{{=%s}}" % self.one_of(ch, level)
            if isinstance(ch, TaskOutput):
                return "{{tasks.%s.outputs.%s.%s}}" % (self.task_names[id(ch.task)], kind, ch.name)
            return "{{inputs.parameters.%s}}" % self.ref_name(ch)
        child = chain[index + 1]
        name = self.ref_name(ch)
        self.exposed.setdefault(id(child), {})[name] = ch
        self.resolve(ch, child)
        return "{{tasks.%s.outputs.%s.%s}}" % (child.name, kind, name)

    def one_of(self, ch: OneOf, level: Any) -> str:
        """The expression picking the output of the branch whose task succeeded (the last
        branch is dsl.Else, so it is the fallback)."""
        *firsts, last = ch.channels
        text = expression_ref(self.resolve(last, level))
        for out in reversed(firsts):
            status = "tasks[%s].status" % json.dumps(self.task_names[id(out.task)])
            value = expression_ref(self.resolve(out, level))
            text = f'{status} == "Succeeded" ? {value} : {text}'
        return text

    def element_at(self, level: Any, task: PipelineTask) -> Any:
        """The task itself or the block containing it that sits directly in `level`'s DAG."""
        chain = dag_chain(task.groups)
        index = next((i for i, lv in enumerate(chain) if lv is level), None)
        if index is None:
            return None
        return task if index == len(chain) - 1 else chain[index + 1]

    # -- building --------------------------------------------------------------------------
    def build(self) -> None:
        for _ in range(2):  # pass 1 discovers threaded inputs/outputs, pass 2 emits them all
            templates = [self.level(lv) for lv in reversed(self.levels)]
        for t in templates:
            self.templates.add(t)

    def members(self, level: Any) -> list[Any]:
        out: list[Any] = []
        for t in self.graph.tasks:
            if id(t) not in self.exit_tasks and dag_chain(t.groups)[-1] is level:
                out.append(t)
        for g in self.graph.groups:
            if g.is_dag and self.parent(g) is level:
                out.append(g)
        return sorted(out, key=lambda e: e.seq)

    def under(self, element: Any) -> list[PipelineTask]:
        if isinstance(element, PipelineTask):
            return [element]
        tasks = [t for t in self.graph.tasks if any(g is element for g in t.groups)]
        if isinstance(element, ExitGroup) and element.exit_task is not None:
            tasks.append(element.exit_task)
        return tasks

    def level(self, level: Any) -> s.Template:
        dag_tasks = [self.element(level, e) for e in self.members(level)]
        params, artifacts = [], []
        if level is ROOT:
            for d in self.pipe.signature.inputs:
                params.append(
                    s.Parameter(
                        name=d.name,
                        default=encode_constant(d.default, d.type) if d.has_default else None,
                    )
                )
        if isinstance(level, LoopGroup):
            assert level.item is not None
            params.append(s.Parameter(name=self.ref_name(level.item)))
            params += [s.Parameter(name=self.ref_name(f)) for f in level.item.fields()]
        for name, ch in self.inputs.get(id(level), {}).items():
            if ch.is_artifact:
                artifacts.append(s.Artifact(name=name))
            else:
                params.append(s.Parameter(name=name))
        out_params, out_artifacts = [], []
        exposed: dict[str, Channel | Collected] = dict(self.exposed.get(id(level), {}))
        if level is ROOT:
            exposed = dict(self.graph.outputs)
        for name, ch in self.flatten_outputs(exposed):
            expr = self.resolve(ch, level)
            if ch.is_artifact:
                out_artifacts.append(artifact_from(name, expr))
            elif isinstance(level, LoopGroup) and ch.type == "str":
                # Argo's fan-in decodes each iteration's value when it looks like JSON, so "1"
                # would arrive as 1; JSON-encoding the string keeps it a string.
                value_from = s.ValueFrom(expression=f"toJson({expression_ref(expr)})")
                out_params.append(s.Parameter(name=name, value_from=value_from))
            elif expr.startswith("{{="):
                value_from = s.ValueFrom(expression=expression_ref(expr))
                out_params.append(s.Parameter(name=name, value_from=value_from))
            else:
                out_params.append(s.Parameter(name=name, value_from=s.ValueFrom(parameter=expr)))
        return s.Template(
            name=self.level_template(level),
            inputs=s.Inputs(parameters=params, artifacts=artifacts),
            outputs=s.Outputs(parameters=out_params, artifacts=out_artifacts),
            dag=s.DAGTemplate(tasks=dag_tasks),
            parallelism=level.parallelism if isinstance(level, LoopGroup) else None,
        )

    def flatten_outputs(self, exposed: dict[str, Channel | Collected]) -> list[tuple[str, Channel]]:
        """Outputs as channels: a pipeline's Collected list of parameters is the loop's
        aggregated output; a Collected list of artifacts is its pods and metadata lists (the
        artifacts themselves stay under their key prefix, see `collect_prefix`)."""
        flat: list[tuple[str, Channel]] = []
        for name, ch in exposed.items():
            if isinstance(ch, Collected) and ch.is_artifact:
                producer = ch.channel.task
                self.collect_prefix(producer, ch.channel.name)
                flat.append((name + "-pod", producer.pod_channel(ch.channel)))
                flat.append((name + "-metadata", producer.metadata_channel(ch.channel)))
            elif isinstance(ch, Collected):
                flat.append((name, ch.channel))
            else:
                flat.append((name, ch))
        return flat

    def collect_prefix(self, task: PipelineTask, output: str) -> str:
        """The artifact-store key prefix under which every iteration of `task` stores `output`.

        `{{workflow.uid}}` keeps runs apart; the template and task names keep outputs apart.
        A nested pipeline called twice shares the prefix: consumers pick their own entries by
        pod name, so the extra entries are never read as theirs.
        """
        prefix = "{{workflow.uid}}/%s/%s/%s" % (self.name, self.task_names[id(task)], output)
        self.templates.collect_prefixes[(id(task), output)] = prefix
        return prefix

    def collected_source(self, value: Any) -> tuple[str, TaskOutput, TaskOutput]:
        """(key prefix, pods channel, metadata channel) of an `Input[List[...]]` argument: a
        Collected artifact of this graph or the Collected output of a nested pipeline task."""
        if isinstance(value, Collected):
            producer = value.channel.task
            return (
                self.collect_prefix(producer, value.channel.name),
                producer.pod_channel(value.channel),
                producer.metadata_channel(value.channel),
            )
        task, comp = value.task, value.task.component
        assert isinstance(comp, Pipeline) and value.is_list, value
        self.templates.pipeline(comp)  # compiles it (and registers its prefixes) once
        inner = comp.graph.outputs[value.name]
        assert isinstance(inner, Collected)
        prefix = self.templates.collect_prefixes[(id(inner.channel.task), inner.channel.name)]
        return prefix, task.pod_channel(value), task.metadata_channel(value)

    def depends(self, level: Any, e: Any) -> str | None:
        """`a && b`: the siblings in `level` whose tasks feed any task under `e`."""
        deps: list[str] = []
        for t in self.under(e):
            for d in t.upstream():
                other = self.element_at(level, d)
                if other is None or other is e:
                    continue
                name = self.task_names[id(other)] if isinstance(other, PipelineTask) else other.name
                if name not in deps:
                    deps.append(name)
        return " && ".join(deps) or None

    def element(self, level: Any, e: Any) -> s.DAGTask:
        groups = e.groups if isinstance(e, PipelineTask) else e.parents
        when = when_text(level, groups, lambda ch: self.resolve(ch, level), level is ROOT)
        if isinstance(e, PipelineTask):
            collect = {out: self.collect_prefix(e, out) for out in sorted(e.collected)}
            return s.DAGTask(
                name=self.task_names[id(e)],
                template=self.templates.component(e.component, e, collect),
                arguments=self.arguments(level, e),
                depends=self.depends(level, e),
                when=when,
            )
        params, artifacts = [], []
        if isinstance(e, LoopGroup):
            assert e.item is not None
            params.append(s.Parameter(name=self.ref_name(e.item), value="{{item}}"))
            params += [
                s.Parameter(name=self.ref_name(f), value="{{item.%s}}" % f.field)
                for f in e.item.fields()
            ]
        for name, ch in self.inputs.get(id(e), {}).items():
            expr = self.resolve(ch, level)
            if ch.is_artifact:
                artifacts.append(artifact_from(name, expr))
            else:
                params.append(s.Parameter(name=name, value=expr))
        task = s.DAGTask(
            name=e.name,
            template=self.level_template(e),
            arguments=s.Arguments(parameters=params, artifacts=artifacts),
            depends=self.depends(level, e),
            when=when,
        )
        if isinstance(e, LoopGroup):
            if isinstance(e.items, Channel):
                task.with_param = self.resolve(e.items, level)
            else:
                task.with_items = list(e.items)
        if isinstance(e, ExitGroup) and e.exit_task is not None:
            exit_task = e.exit_task
            task.hooks = {
                "exit": s.LifecycleHook(
                    template=self.templates.component(exit_task.component, exit_task),
                    arguments=self.arguments(level, exit_task, status_of=e.name),
                )
            }
        return task

    def arguments(
        self, level: Any, task: PipelineTask, status_of: str | None = None
    ) -> s.Arguments:
        params: list[s.Parameter] = []
        artifacts: list[s.Artifact] = []
        sig = task.component.signature
        for decl in sig.inputs:
            if decl.kind == "final_status" and status_of is not None:
                params.append(s.Parameter(name=decl.name, value="{{tasks.%s.status}}" % status_of))
                params.append(s.Parameter(name=decl.name + "-task", value=status_of))
                continue
            if decl.name not in task.arguments:
                continue
            value = task.arguments[decl.name]
            if decl.is_list:
                prefix, pods, metadata = self.collected_source(value)
                # Optional: an empty loop stores nothing under the prefix, and gives [].
                artifacts.append(s.Artifact(name=decl.name, s3={"key": prefix}, optional=True))
                params.append(s.Parameter(name=decl.name + "-pod", value=self.resolve(pods, level)))
                params.append(
                    s.Parameter(name=decl.name + "-metadata", value=self.resolve(metadata, level))
                )
            elif isinstance(value, Collected):
                params.append(s.Parameter(name=decl.name, value=self.resolve(value.channel, level)))
            elif isinstance(value, Channel) and value.is_artifact:
                artifacts.append(artifact_from(decl.name, self.resolve(value, level)))
                if isinstance(value, TaskOutput) and has_metadata(value.task.component):
                    meta = value.task.metadata_channel(value)
                    params.append(
                        s.Parameter(name=decl.name + "-metadata", value=self.resolve(meta, level))
                    )
            elif isinstance(value, Channel):
                params.append(s.Parameter(name=decl.name, value=self.resolve(value, level)))
            else:
                params.append(s.Parameter(name=decl.name, value=encode_constant(value, decl.type)))
        return s.Arguments(parameters=params, artifacts=artifacts)


def artifact_from(name: str, expression: str) -> s.Artifact:
    """An artifact argument or output read from another node (`from` is a Python keyword)."""
    return s.Artifact.model_validate({"name": name, "from": expression})


def has_metadata(comp: BaseComponent[Any, Any]) -> bool:
    """Whether a component publishes `<artifact>-metadata` side parameters (Python and importer)."""
    return isinstance(comp, (PythonComponent, ImporterComponent))
