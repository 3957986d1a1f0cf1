"""A workflow's templates by name, with `templateDefaults` merged in, as the walk needs them."""

from __future__ import annotations

from typing import Any

from engine.binding import ResolvedArgs, resolve_arguments
from engine.phases import NodeType
from engine.scope import Scope
from engine.spec import Template, TemplateKind, Workflow, _Invocation

_KIND_KEYS = {k.value for k in TemplateKind}


def _merge(defaults: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    merged = dict(own)
    for key, value in defaults.items():
        if key in _KIND_KEYS and key not in own:
            continue  # a default container spec never turns a dag template into a pod
        if key not in merged:
            merged[key] = value
        elif isinstance(value, dict) and isinstance(merged[key], dict):
            merged[key] = _merge(value, merged[key])
    return merged


class TemplateLibrary:
    def __init__(self, workflow: Workflow) -> None:
        self.workflow = workflow
        self.spec = workflow.spec
        defaults = self.spec.template_defaults.dump() if self.spec.template_defaults else None
        self._defaults = defaults
        self._templates: dict[str, Template] = {}
        for template in self.spec.templates:
            assert template.name is not None
            self._templates[template.name] = self._with_defaults(template)
        self._inline: dict[int, Template] = {}

    def _with_defaults(self, template: Template) -> Template:
        if not self._defaults:
            return template
        return Template.model_validate(_merge(self._defaults, template.dump()))

    @property
    def parallelism(self) -> int | None:
        return self.spec.parallelism

    def named(self, name: str) -> Template:
        return self._templates[name]

    def entrypoint(self) -> Template:
        assert self.spec.entrypoint is not None
        return self._templates[self.spec.entrypoint]

    def exit_template(self) -> Template | None:
        name = self.spec.on_exit
        if name is None and self.spec.hooks and "exit" in self.spec.hooks:
            name = self.spec.hooks["exit"].template
        return self._templates[name] if name else None

    def arguments(self, scope: Scope) -> ResolvedArgs:
        """Workflow arguments feed the entrypoint's inputs by name, as in Argo.

        Their values are the run's parameters: data, taken as they are (the same text that
        `{{workflow.parameters.x}}` gives), never rendered as templates.
        """
        return resolve_arguments(self.spec.arguments, scope, literal=True)

    def for_invocation(self, inv: _Invocation) -> Template:
        if inv.inline is not None:
            key = id(inv.inline)
            if key not in self._inline:
                inline = inv.inline.model_copy(update={"name": inv.inline.name or inv.name})
                self._inline[key] = self._with_defaults(inline)
            return self._inline[key]
        assert inv.template is not None, "validation rejects templateRef before the walk"
        return self._templates[inv.template]


def node_type_for(template: Template) -> NodeType:
    """The node a template call makes, named as Argo names node types."""
    kind = template.kind
    if kind is TemplateKind.DAG:
        return NodeType.DAG
    if kind is TemplateKind.STEPS:
        return NodeType.STEPS
    if kind is TemplateKind.SUSPEND:
        return NodeType.SUSPEND
    return NodeType.POD
