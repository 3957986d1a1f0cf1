"""Outputs of DAG and steps templates, read from their children once they have all finished."""

from __future__ import annotations

from typing import Any

from engine.binding import BindingError, artifact_source, render
from engine.errors import ExpressionError
from engine.expressions import evaluate_expr, render_value
from engine.scope import Scope
from engine.spec import Template

Published = list[tuple[str, str, Any]]  # (parameters|artifacts, globalName, value)


def parent_outputs(bound: Template, scope: Scope) -> tuple[dict[str, Any], Published]:
    """The template's declared outputs in its children's scope, and the globals they publish."""
    outputs: dict[str, Any] = {}
    published: Published = []
    params: dict[str, str] = {}
    for p in bound.outputs.parameters:
        value: str | None = None
        vf = p.value_from
        try:
            if vf is not None and vf.parameter:
                value = render(vf.parameter, scope)
            elif vf is not None and vf.expression:
                value = render_value(evaluate_expr(vf.expression, scope.expression_env()))
            elif p.value is not None:
                value = render(p.value, scope)
        except ExpressionError:
            if vf is None or vf.default is None:
                raise
        if (value is None or value == "") and vf is not None and vf.default is not None:
            value = vf.default
        if value is None:
            raise BindingError(
                f"output parameter {p.name!r} has no value; give it valueFrom.parameter or a default"
            )
        params[p.name] = value
        if p.global_name:
            published.append(("parameters", p.global_name, value))
    if params:
        outputs["parameters"] = params
    artifacts: dict[str, Any] = {}
    for a in bound.outputs.artifacts:
        source = artifact_source(a.from_, a.from_expression, None, None, scope, a.name)
        if source is None:
            if a.optional:
                continue
            raise BindingError(
                f"output artifact {a.name!r}: {a.from_ or a.from_expression!r} does not exist"
            )
        artifacts[a.name] = source
        if a.global_name:
            published.append(("artifacts", a.global_name, source))
    if artifacts:
        outputs["artifacts"] = artifacts
    return outputs, published
