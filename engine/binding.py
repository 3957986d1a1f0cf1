"""Calling a template: resolve the caller's arguments, bind them to inputs, fill in the body.

This is Argo's `ProcessArgs`: arguments are resolved in the caller's scope; the callee's
declared inputs take them (or their defaults). Then each string of the callee's body is rendered
exactly once, so that a value put into it (a run parameter, an upstream output, a loop item, an
expression's result) is never read again as a template or an expression; a value holding `{{`
stays literal, as in Argo. A field is rendered either when the template is called (what decides
how the node runs: its retry strategy, parallelism, a suspend's duration...) or where it is used,
in a scope that still holds the inputs and the workflow's globals and adds what exists only
then: a DAG's tasks and a steps template's steps with their siblings and `{{item}}`, a parent's
outputs once its children finished, a pod's body with `{{pod.name}}`, `{{retries}}` and its
outputs' paths (`engine.pods.finalize_template`). `deferred_fields` says which is which.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.errors import ExpressionError, KubepipeError
from engine.expressions import evaluate_expr, render_value, substitute, substitute_obj
from engine.scope import Scope
from engine.spec import Arguments, Template, TemplateKind


_POD_KINDS = (
    TemplateKind.CONTAINER,
    TemplateKind.SCRIPT,
    TemplateKind.RESOURCE,
    TemplateKind.CONTAINER_SET,
)
# Fields of a pod that the walk reads before the pod is built, so they are rendered at the call.
_POD_CALL_FIELDS = frozenset({"name", "retryStrategy"})


def deferred_fields(template: Template, body: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """The manifest paths of `template` (dumped as `body`) rendered where they are used rather
    than at the call. Kubernetes-only fields of a pod are rendered at the call: nothing local
    reads them later."""
    kind = template.kind
    if kind is TemplateKind.DAG:
        return [("dag", "tasks"), ("outputs",)]
    if kind is TemplateKind.STEPS:
        return [("steps",), ("outputs",)]
    if kind in _POD_KINDS:
        skip = _POD_CALL_FIELDS | type(template).k8s_only_aliases() | {"inputs"}
        return [(key,) for key in body if key not in skip]
    return []


def _take(body: dict[str, Any], path: tuple[str, ...]) -> Any:
    """Remove the value at `path` from nested dicts (None when absent)."""
    node: Any = body
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
    return node.pop(path[-1], None) if isinstance(node, dict) else None


def _put(body: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = body
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


class BindingError(KubepipeError):
    """Arguments do not fit the template's inputs; the node ends in Error with this message."""


@dataclass(frozen=True)
class ResolvedArgs:
    parameters: Mapping[str, str]
    artifacts: Mapping[str, dict[str, Any]]


EMPTY_ARGS = ResolvedArgs({}, {})


def render(text: str, scope: Scope, *, strict: bool = True) -> str:
    """Substitute placeholders in one string against a scope."""
    if "{{" not in text:
        return text
    return substitute(text, scope.resolve, expression_env=scope.expression_env, strict=strict)


def _placeholder_key(text: str) -> str | None:
    stripped = text.strip()
    if stripped.startswith("{{") and stripped.endswith("}}") and not stripped.startswith("{{="):
        return stripped[2:-2].strip()
    return None


def resolve_arguments(args: Arguments, scope: Scope, *, literal: bool = False) -> ResolvedArgs:
    """The arguments' values in the caller's scope; `literal` takes parameter values as they are
    (the workflow's own arguments: the run's parameters are data, not templates)."""
    parameters: dict[str, str] = {}
    for param in args.parameters:
        if param.value is not None:
            parameters[param.name] = param.value if literal else render(param.value, scope)
        elif param.value_from is not None and param.value_from.expression:
            parameters[param.name] = render_value(
                evaluate_expr(param.value_from.expression, scope.expression_env())
            )
        elif param.default is not None:
            parameters[param.name] = param.default if literal else render(param.default, scope)
    artifacts: dict[str, dict[str, Any]] = {}
    for art in args.artifacts:
        source = artifact_source(
            art.from_,
            art.from_expression,
            art.raw.data if art.raw else None,
            art.s3,
            scope,
            art.name,
        )
        if source is not None:
            artifacts[art.name] = (
                {**source, "subPath": render(art.sub_path, scope)} if art.sub_path else source
            )
            artifacts[art.name] = _optional_key(artifacts[art.name], art.optional)
        elif not art.optional:
            raise BindingError(
                f"argument artifact {art.name!r}: its source {art.from_ or art.from_expression!r} "
                "does not exist (did the producing step succeed and declare that output?)"
            )
    return ResolvedArgs(parameters, artifacts)


def _optional_key(source: dict[str, Any], optional: bool | None) -> dict[str, Any]:
    """Mark an optional artifact named by a key up front, which may hold nothing (an empty
    loop's prefix, a flag not written yet): the step then starts without it, as in Argo,
    instead of failing."""
    if optional and "key" in source and not source.get("sha256"):
        return {**source, "optional": True}
    return source


def artifact_source(
    from_: str | None,
    from_expression: str | None,
    raw: str | None,
    s3: dict[str, Any] | None,
    scope: Scope,
    name: str,
) -> dict[str, Any] | None:
    if raw is not None:
        return {"raw": render(raw, scope)}
    if from_:
        key = _placeholder_key(from_)
        if key is None:
            raise BindingError(
                f"artifact {name!r}: `from` must be one placeholder like "
                f"'{{{{tasks.A.outputs.artifacts.x}}}}', got {from_!r}"
            )
        return scope.artifact(key)
    if from_expression:
        value = evaluate_expr(from_expression, scope.expression_env())
        return value if isinstance(value, dict) else None
    if s3 and s3.get("key") and set(s3) <= {"key"}:
        return {"key": render(str(s3["key"]), scope).strip("/")}
    return None


def bind_inputs(
    template: Template, args: ResolvedArgs, base: Scope
) -> tuple[Template, dict[str, Any]]:
    """The callee's inputs from the caller's arguments, and its body with them filled in."""
    params: dict[str, str] = {}
    for p in template.inputs.parameters:
        value = args.parameters.get(p.name)
        if value is None:
            # A template's own default is written in the callee: it sees the workflow globals.
            own = p.value if p.value is not None else p.default
            if own is None and p.value_from is not None:
                own = p.value_from.default
            try:
                value = render(own, base) if own is not None else None
            except ExpressionError as exc:
                raise BindingError(
                    f"inputs.parameters.{p.name} of template {template.name!r}: {exc}"
                ) from None
        if value is None:
            raise BindingError(
                f"inputs.parameters.{p.name} was not supplied to template {template.name!r}; "
                "pass it in `arguments.parameters` or give the input a `default`"
            )
        if p.enum and value not in p.enum:
            raise BindingError(
                f"inputs.parameters.{p.name}: {value!r} is not one of {list(p.enum)}"
            )
        params[p.name] = value
    artifacts: dict[str, dict[str, Any]] = {}
    for a in template.inputs.artifacts:
        source = args.artifacts.get(a.name)
        if source is None:
            source = artifact_source(
                a.from_, a.from_expression, a.raw.data if a.raw else None, a.s3, base, a.name
            )
        if source is None:
            if a.optional:
                continue
            raise BindingError(
                f"inputs.artifacts.{a.name} was not supplied to template {template.name!r}; "
                "pass it in `arguments.artifacts` (from, raw or s3 key)"
            )
        artifacts[a.name] = _optional_key({**source, "path": a.path}, a.optional)
    inputs = {"parameters": params, "artifacts": artifacts}
    scope = Scope(base.state, base.globals, inputs, extra=dict(base.extra))
    for a in template.inputs.artifacts:
        if a.name in artifacts and a.path:
            artifacts[a.name]["path"] = render(a.path, scope, strict=False)
    body = template.dump()
    body.pop("inputs", None)
    later = [(path, _take(body, path)) for path in deferred_fields(template, body)]
    try:
        filled = substitute_obj(
            body, scope.resolve, expression_env=scope.expression_env, strict=False
        )
    except ExpressionError as exc:
        raise BindingError(f"template {template.name!r}: {exc}") from None
    if filled == body:  # nothing to fill in: skip re-validating the same template
        return template, inputs
    for path, value in later:
        if value is not None:
            _put(filled, path, value)
    filled["inputs"] = template.inputs.dump()
    return Template.model_validate(filled), inputs
