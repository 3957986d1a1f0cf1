"""The templates of one workflow, named once: shared per component, specialised per task options.

Two tasks of one component share a template unless a task sets options (retry, resources, env,
timeout...); then it gets its own `<component>-<task>` template. A nested pipeline is compiled
once, however many times it is called.
"""

from __future__ import annotations

import json
from typing import Any

from dsl._graph import PipelineTask, unique_name
from dsl.component import BaseComponent, ContainerComponent
from dsl.pipeline import Pipeline
from dsl.templates import component_template
from engine import spec as s


class TemplateSet:
    """Every template of one workflow; nested pipelines share the template namespace."""

    def __init__(self) -> None:
        self.templates: dict[str, s.Template] = {}
        self._by_key: dict[Any, str] = {}
        # (id(task), output) -> artifact key prefix of a collected loop output, for consumers
        # in other graphs (a nested pipeline's Collected output).
        self.collect_prefixes: dict[tuple[int, str], str] = {}

    def template_name(self, key: Any, base: str) -> tuple[str, bool]:
        """A unique template name for `key`; True when the template is new."""
        if key in self._by_key:
            return self._by_key[key], False
        taken = set(self.templates) | set(self._by_key.values())
        name = unique_name(base, taken)
        self._by_key[key] = name
        return name, True

    def add(self, template: s.Template) -> None:
        assert template.name is not None
        self.templates[template.name] = template

    def component(
        self,
        comp: BaseComponent[Any, Any],
        task: PipelineTask | None,
        collect: dict[str, str] | None = None,
    ) -> str:
        """The template a task calls: shared per component, specialised when the task sets options.

        `collect` maps artifact outputs a dsl.Collected reads to their key prefix: those are
        stored per pod under the prefix, so the template is the task's own.
        """
        if isinstance(comp, Pipeline):
            return self.pipeline(comp)
        options = task_options(task)
        if collect:
            options["collect"] = dict(collect)
        key = (id(comp), json.dumps(options, sort_keys=True))
        base = comp.name if not options or task is None else f"{comp.name}-{task.name}"
        name, new = self.template_name(key, base)
        if new:
            self.add(component_template(name, comp, options))
        return name

    def pipeline(self, pipe: Pipeline[Any, Any]) -> str:
        """The entry DAG template of `pipe`, compiling its graph the first time it is seen."""
        from dsl._dag import GraphCompiler

        name, new = self.template_name(id(pipe), pipe.name)
        if new:
            GraphCompiler(self, pipe, name).build()
        return name


def task_options(task: PipelineTask | None) -> dict[str, Any]:
    """The settings a task made with its `set_*` methods, as the template builder reads them."""
    if task is None:
        return {}
    fields: dict[str, Any] = {
        "retry": task.retry,
        "caching": task.caching,
        "limits": task.limits,
        "requests": task.requests,
        "env": task.env,
        "timeout": task.timeout_seconds,
        "accelerator": task.accelerator_type,
    }
    if isinstance(task.component, ContainerComponent) and task.component.if_present:
        fields["present"] = task.component.present_inputs(task.arguments)
    return {k: v for k, v in fields.items() if v not in (None, {}, "")}
