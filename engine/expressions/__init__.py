"""Expression languages of Argo workflows, evaluated without Go and without Python `eval`.

- `depends`  : `parse_depends` / `DependsExpr` for DAG task conditions (`A && B.Failed`).
- `when`     : `evaluate_when`, govaluate semantics after `{{...}}` substitution.
- expr-lang  : `evaluate_expr` for `{{= ...}}`, `expression:`, `fromExpression`.
- templates  : `find_placeholders`, `substitute`, `substitute_obj` for `{{...}}` tags;
               `render_value` turns an expression result into text the way `{{= }}` does.

Every failure is an `engine.errors.ExpressionError` (or its `UnresolvedReference` subclass)
naming the expression and the offset of the problem.
"""

from engine.expressions._values import render as render_value
from engine.expressions.depends import (
    DependsExpr,
    DependsResolver,
    TaskResult,
    dependencies_to_depends,
    parse_depends,
)
from engine.expressions.expr import UndefinedName, evaluate_expr, expand_env
from engine.expressions.govaluate import evaluate_when
from engine.expressions.template import (
    Placeholder,
    find_placeholders,
    substitute,
    substitute_obj,
)

__all__ = [
    "DependsExpr",
    "DependsResolver",
    "Placeholder",
    "TaskResult",
    "UndefinedName",
    "dependencies_to_depends",
    "evaluate_expr",
    "evaluate_when",
    "expand_env",
    "find_placeholders",
    "parse_depends",
    "render_value",
    "substitute",
    "substitute_obj",
]
