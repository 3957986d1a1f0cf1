"""Compile a traced pipeline to one Argo `Workflow` (engine.spec models), then to YAML.

Layout of the output: the entry DAG template is the pipeline; each `ParallelFor` and
`ExitHandler` block is a DAG template of its own (loops need one task to fan out; exit hooks
need one node to guard); conditions are `when` on the tasks inside them. Values that cross a
block boundary are threaded through the block template's inputs (going in) and outputs (coming
out, which is also how `Collected` gets Argo's aggregated JSON list). Names of threaded values
are `<task>--<output>`, which no Python parameter name can collide with.

Output is deterministic: names come from the source, lists keep source order, no timestamps.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from dsl._graph import (
    Channel,
    Collected,
    ConditionGroup,
    ExitGroup,
    Group,
    LoopGroup,
    LoopItem,
    PipelineTask,
    Predicate,
    TaskOutput,
    kebab,
)
from dsl.component import BaseComponent, ImporterComponent, PythonComponent
from dsl.pipeline import Pipeline
from dsl.templates import component_template
from engine import spec as s

SIGNATURE_ANNOTATION = "kubepipe.io/signature"
OUTPUTS_ANNOTATION = "kubepipe.io/outputs"
CACHE_ANNOTATION = "kubepipe.io/cache"


class _Root:
    name = "root"
    is_dag = True


ROOT: Any = _Root()


def encode_constant(value: Any, type_name: str = "any") -> str:
    """A Python constant as the Argo string its type travels as (str as-is, others JSON)."""
    if isinstance(value, str) and type_name in ("str", "any", "optional_str"):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=False)


class Compiler:
    """Builds every template of one workflow; nested pipelines share the template namespace."""

    def __init__(self) -> None:
        self.templates: dict[str, s.Template] = {}
        self._by_key: dict[Any, str] = {}

    def template_name(self, key: Any, base: str) -> tuple[str, bool]:
        """A unique template name for `key`; True when the template is new."""
        if key in self._by_key:
            return self._by_key[key], False
        name, n = base, 1
        while name in self.templates or name in self._by_key.values():
            n += 1
            name = f"{base}-{n}"
        self._by_key[key] = name
        return name, True

    def add(self, template: s.Template) -> None:
        assert template.name is not None
        self.templates[template.name] = template

    def component(self, comp: BaseComponent[Any, Any], task: PipelineTask | None) -> str:
        """The template a task calls: shared per component, specialised when the task sets options."""
        if isinstance(comp, Pipeline):
            return self.pipeline(comp)
        options = _task_options(task)
        key = (id(comp), json.dumps(options, sort_keys=True))
        base = comp.name if not options or task is None else f"{comp.name}-{task.name}"
        name, new = self.template_name(key, base)
        if new:
            self.add(component_template(name, comp, options))
        return name

    def pipeline(self, pipe: Pipeline[Any, Any]) -> str:
        name, new = self.template_name(id(pipe), pipe.name)
        if new:
            _GraphCompiler(self, pipe, name).build()
        return name


def _task_options(task: PipelineTask | None) -> dict[str, Any]:
    if task is None:
        return {}
    opts: dict[str, Any] = {}
    if task.retry:
        opts["retry"] = task.retry
    if task.caching is not None:
        opts["caching"] = task.caching
    if task.limits:
        opts["limits"] = task.limits
    if task.requests:
        opts["requests"] = task.requests
    if task.env:
        opts["env"] = task.env
    if task.timeout_seconds is not None:
        opts["timeout"] = task.timeout_seconds
    if task.accelerator_type:
        opts["accelerator"] = task.accelerator_type
    return opts


class _GraphCompiler:
    """One pipeline's DAG templates, with values threaded across block boundaries."""

    def __init__(self, compiler: Compiler, pipe: Pipeline[Any, Any], name: str) -> None:
        self.c = compiler
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
            base = kebab(t.display_name) if t.display_name else t.name
            name, n = base, 1
            while name in used:
                n += 1
                name = f"{base}-{n}"
            used.add(name)
            names[id(t)] = name
        return names

    # -- structure -----------------------------------------------------------------------
    @staticmethod
    def dag_chain(groups: tuple[Group, ...]) -> list[Any]:
        return [ROOT] + [g for g in groups if g.is_dag]

    def chain_of(self, ch: Any) -> list[Any]:
        if isinstance(ch, TaskOutput):
            return self.dag_chain(ch.task.groups)
        if isinstance(ch, LoopItem):
            return self.dag_chain(ch.loop.parents) + [ch.loop]
        return [ROOT]

    def parent(self, level: Any) -> Any:
        return self.dag_chain(level.parents)[-1]

    def level_template(self, level: Any) -> str:
        return self.name if level is ROOT else f"{self.name}-{level.name}"

    def ref_name(self, ch: Any) -> str:
        if isinstance(ch, TaskOutput):
            return f"{self.task_names[id(ch.task)]}--{ch.name}"
        if isinstance(ch, LoopItem):
            return f"{ch.loop.name}--item" + (f"--{ch.field}" if ch.field else "")
        return ch.name

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
            if isinstance(ch, TaskOutput):
                return "{{tasks.%s.outputs.%s.%s}}" % (self.task_names[id(ch.task)], kind, ch.name)
            return "{{inputs.parameters.%s}}" % self.ref_name(ch)
        child = chain[index + 1]
        name = self.ref_name(ch)
        self.exposed.setdefault(id(child), {})[name] = ch
        self.resolve(ch, child)
        return "{{tasks.%s.outputs.%s.%s}}" % (child.name, kind, name)

    def element_at(self, level: Any, task: PipelineTask) -> Any:
        """The task itself or the block containing it that sits directly in `level`'s DAG."""
        chain = self.dag_chain(task.groups)
        index = next((i for i, lv in enumerate(chain) if lv is level), None)
        if index is None:
            return None
        return task if index == len(chain) - 1 else chain[index + 1]

    def task_deps(self, task: PipelineTask) -> list[PipelineTask]:
        found = list(task.after_tasks)
        for value in task.arguments.values():
            inner = value.channel if isinstance(value, Collected) else value
            if isinstance(inner, TaskOutput):
                found.append(inner.task)
        for g in task.groups:
            if isinstance(g, ConditionGroup):
                found += [c.task for p in g.clauses for c in p.channels() if isinstance(c, TaskOutput)]
            if isinstance(g, LoopGroup) and isinstance(g.items, TaskOutput):
                found.append(g.items.task)
        return found

    # -- building --------------------------------------------------------------------------
    def build(self) -> None:
        for _ in range(2):  # pass 1 discovers threaded inputs/outputs, pass 2 emits them all
            templates = [self.level(lv) for lv in reversed(self.levels)]
        for t in templates:
            self.c.add(t)

    def members(self, level: Any) -> list[Any]:
        out: list[Any] = []
        for t in self.graph.tasks:
            if id(t) not in self.exit_tasks and self.dag_chain(t.groups)[-1] is level:
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
                params.append(s.Parameter(
                    name=d.name, default=encode_constant(d.default, d.type) if d.has_default else None))
        if isinstance(level, LoopGroup):
            assert level.item is not None
            params.append(s.Parameter(name=self.ref_name(level.item)))
            params += [s.Parameter(name=self.ref_name(f)) for f in level.item._fields.values()]
        for name, ch in self.inputs.get(id(level), {}).items():
            if ch.is_artifact:
                artifacts.append(s.Artifact(name=name))
            else:
                params.append(s.Parameter(name=name))
        out_params, out_artifacts = [], []
        exposed = dict(self.exposed.get(id(level), {}))
        if level is ROOT:
            exposed = {n: ch for n, ch in self.graph.outputs.items()}
        for name, ch in exposed.items():
            expr = self.resolve(ch, level)
            if ch.is_artifact:
                out_artifacts.append(_artifact_from(name, expr))
            else:
                out_params.append(s.Parameter(name=name, value_from=s.ValueFrom(parameter=expr)))
        return s.Template(
            name=self.level_template(level),
            inputs=s.Inputs(parameters=params, artifacts=artifacts),
            outputs=s.Outputs(parameters=out_params, artifacts=out_artifacts),
            dag=s.DAGTemplate(tasks=dag_tasks),
            parallelism=level.parallelism if isinstance(level, LoopGroup) else None,
        )

    def element(self, level: Any, e: Any) -> s.DAGTask:
        deps: list[str] = []
        for t in self.under(e):
            for d in self.task_deps(t):
                other = self.element_at(level, d)
                if other is None or other is e:
                    continue
                name = self.task_names[id(other)] if isinstance(other, PipelineTask) else other.name
                if name not in deps:
                    deps.append(name)
        groups = e.groups if isinstance(e, PipelineTask) else e.parents
        when = self.when(level, groups)
        if isinstance(e, PipelineTask):
            return s.DAGTask(
                name=self.task_names[id(e)],
                template=self.c.component(e.component, e),
                arguments=self.arguments(level, e),
                depends=" && ".join(deps) or None,
                when=when,
            )
        params, artifacts = [], []
        if isinstance(e, LoopGroup):
            assert e.item is not None
            params.append(s.Parameter(name=self.ref_name(e.item), value="{{item}}"))
            params += [s.Parameter(name=self.ref_name(f), value="{{item.%s}}" % f.field)
                       for f in e.item._fields.values()]
        for name, ch in self.inputs.get(id(e), {}).items():
            expr = self.resolve(ch, level)
            if ch.is_artifact:
                artifacts.append(_artifact_from(name, expr))
            else:
                params.append(s.Parameter(name=name, value=expr))
        task = s.DAGTask(
            name=e.name,
            template=self.level_template(e),
            arguments=s.Arguments(parameters=params, artifacts=artifacts),
            depends=" && ".join(deps) or None,
            when=when,
        )
        if isinstance(e, LoopGroup):
            if isinstance(e.items, Channel):
                task.with_param = self.resolve(e.items, level)
            else:
                task.with_items = list(e.items)
        if isinstance(e, ExitGroup) and e.exit_task is not None:
            exit_task = e.exit_task
            task.hooks = {"exit": s.LifecycleHook(
                template=self.c.component(exit_task.component, exit_task),
                arguments=self.arguments(level, exit_task, status_of=e.name),
            )}
        return task

    def when(self, level: Any, groups: tuple[Group, ...]) -> str | None:
        chain = self.dag_chain(groups)
        start = 0
        for i, g in enumerate(groups):
            if g is level:
                start = i + 1
        clauses = [p for g in groups[start:] if isinstance(g, ConditionGroup) for p in g.clauses]
        if level is not ROOT and not any(g is level for g in groups):
            clauses = []
        del chain
        return " && ".join(self.predicate(level, p) for p in clauses) or None

    def predicate(self, level: Any, p: Predicate) -> str:
        numeric = any(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in (p.left, p.right)
        ) or any(
            isinstance(v, Channel) and v.type.removeprefix("optional_") in ("int", "float")
            for v in (p.left, p.right)
        )

        def side(v: Any) -> str:
            if isinstance(v, Channel):
                text = self.resolve(v, level)
            elif isinstance(v, bool):
                text = "true" if v else "false"
            else:
                text = encode_constant(v)
            return text if numeric else "'%s'" % text

        text = f"{side(p.left)} {p.op} {side(p.right)}"
        return f"!({text})" if p.negated else f"({text})"

    def arguments(self, level: Any, task: PipelineTask, status_of: str | None = None) -> s.Arguments:
        params: list[s.Parameter] = []
        artifacts: list[s.Artifact] = []
        sig = task.component.signature
        for decl in sig.inputs:
            if decl.kind == "final_status" and status_of is not None:
                params.append(s.Parameter(name=decl.name, value="{{tasks.%s.status}}" % status_of))
                continue
            if decl.name not in task.arguments:
                continue
            value = task.arguments[decl.name]
            if isinstance(value, Collected):
                params.append(s.Parameter(name=decl.name, value=self.resolve(value.channel, level)))
            elif isinstance(value, Channel) and value.is_artifact:
                artifacts.append(_artifact_from(decl.name, self.resolve(value, level)))
                if isinstance(value, TaskOutput) and _has_metadata(value.task.component):
                    meta = value.task.metadata_channel(value)
                    params.append(s.Parameter(name=decl.name + "-metadata", value=self.resolve(meta, level)))
            elif isinstance(value, Channel):
                params.append(s.Parameter(name=decl.name, value=self.resolve(value, level)))
            else:
                params.append(s.Parameter(name=decl.name, value=encode_constant(value, decl.type)))
        return s.Arguments(parameters=params, artifacts=artifacts)


def _artifact_from(name: str, expression: str) -> s.Artifact:
    """An artifact argument or output read from another node (`from` is a Python keyword)."""
    return s.Artifact.model_validate({"name": name, "from": expression})


def _has_metadata(comp: BaseComponent[Any, Any]) -> bool:
    return isinstance(comp, (PythonComponent, ImporterComponent))


# -- the workflow ------------------------------------------------------------------------------


def compile_workflow(pipe: Pipeline[Any, Any]) -> s.Workflow:
    """The Argo Workflow for a pipeline: entry DAG, block DAGs, one template per component."""
    if not isinstance(pipe, Pipeline):
        raise TypeError(f"dsl.compile takes a @dsl.pipeline function, got {type(pipe).__name__}")
    compiler = Compiler()
    entry = compiler.pipeline(pipe)
    annotations = {CACHE_ANNOTATION: "true"}
    if pipe.description:
        annotations["kubepipe.io/description"] = pipe.description
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
            templates=list(compiler.templates.values()),
        ),
    )


def _pipeline_signature(pipe: Pipeline[Any, Any]) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": d.name, "type": d.type, **({"default": d.default} if d.has_default else {})}
            for d in pipe.signature.inputs
        ],
        "outputs": [{"name": o.name, "type": o.type, "kind": o.kind} for o in pipe.signature.returns],
    }


def to_yaml(workflow: s.Workflow) -> str:
    """Readable, deterministic YAML: block style, literal blocks for multi-line strings."""
    return yaml.dump(_prune(workflow.dump()), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=10**6)


def _prune(value: Any) -> Any:
    """Drop empty lists and maps (`artifacts: []`, `labels: {}`): they say nothing in Argo."""
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in ([], {})}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


def compile(pipeline_func: Pipeline[Any, Any], package_path: str | Path) -> s.Workflow:
    """Write the pipeline's Argo Workflow YAML to `package_path` and return the model.

    Examples:
        >>> # dsl.compile(my_pipeline, "my_pipeline.yaml"); kubepipe run my_pipeline.yaml
    """
    workflow = compile_workflow(pipeline_func)
    Path(package_path).write_text(to_yaml(workflow), encoding="utf-8")
    return workflow

