"""`{{...}}` placeholders: find them, and substitute variables and `{{= expr}}` results.

A tag is an expression tag only when `=` comes right after `{{` (Argo's rule). Simple tags end
at the first `}}`; expression tags end at the first `}}` outside string literals and balanced
braces, so `{{= toJson({a: {b: 1}}) }}` works. Text that merely looks like a tag but is never
closed is left alone, so shell snippets and JSON pass through untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.errors import ExpressionError, UnresolvedReference
from engine.expressions._values import EvalFault, render
from engine.expressions.expr import evaluate_expr

__all__ = ["Placeholder", "find_placeholders", "substitute", "substitute_obj"]

Resolver = Callable[[str], "str | None"]
EnvFactory = Callable[[], Mapping[str, Any]]


@dataclass(frozen=True)
class Placeholder:
    """One `{{...}}` occurrence; `start`/`end` span the braces so callers can splice text."""

    inner: str
    start: int
    end: int
    is_expression: bool


def _expression_end(text: str, i: int) -> int:
    """Index just past the `}}` that closes an expression body starting at `i`, or -1."""
    depth, quote, n = 0, "", len(text)
    while i < n:
        ch = text[i]
        if quote:
            if ch == "\\" and quote != "`":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
        elif ch == "}" and depth == 0 and text.startswith("}}", i):
            return i + 2
        elif ch in "{[(":
            depth += 1
        elif ch in "}])":
            depth = max(depth - 1, 0)
        i += 1
    return -1


def find_placeholders(text: str) -> list[Placeholder]:
    """All well-formed tags in order; unclosed or nested-open `{{` are treated as plain text."""
    found: list[Placeholder] = []
    i = 0
    while True:
        start = text.find("{{", i)
        if start < 0:
            return found
        while text.startswith("{", start + 2):  # `{{{x}}}`: the tag starts at the last brace pair
            start += 1
        body = start + 2
        if text.startswith("=", body):
            end = _expression_end(text, body + 1)
            if end < 0:
                i = body
                continue
            found.append(Placeholder(text[body + 1 : end - 2].strip(), start, end, True))
        else:
            close = text.find("}}", body)
            reopen = text.find("{{", body)
            if close < 0 or (0 <= reopen < close):
                i = body if close < 0 else reopen
                continue
            end = close + 2
            found.append(Placeholder(text[body:close].strip(), start, end, False))
        i = end


def substitute(
    text: str,
    resolve: Resolver,
    *,
    expression_env: EnvFactory | None = None,
    strict: bool = True,
) -> str:
    """Replace every tag; `strict=False` keeps unresolvable tags for a later pass, as Argo does."""
    placeholders = find_placeholders(text)
    if not placeholders:
        return text
    env: Mapping[str, Any] | None = None
    out: list[str] = []
    cursor = 0
    for ph in placeholders:
        out.append(text[cursor : ph.start])
        cursor = ph.end
        original = text[ph.start : ph.end]
        if not ph.is_expression:
            value = resolve(ph.inner)
            if value is None:
                if strict:
                    raise UnresolvedReference(ph.inner)
                out.append(original)
            else:
                out.append(value)
            continue
        if expression_env is None:
            raise ExpressionError(
                "expression tags {{= ...}} are not allowed in this field", original
            )
        if env is None:
            env = expression_env()
        out.append(_expression_value(ph.inner, env, original, strict))
    out.append(text[cursor:])
    return "".join(out)


def _expression_value(expression: str, env: Mapping[str, Any], original: str, strict: bool) -> str:
    try:
        value = evaluate_expr(expression, env)
        if value is None:
            raise ExpressionError(
                "expression evaluated to nil; use ?? to give a default", expression
            )
        try:
            return render(value)
        except EvalFault as fault:
            raise ExpressionError(str(fault), expression) from None
    except ExpressionError:
        if strict:
            raise
        return original


def substitute_obj(
    obj: Any,
    resolve: Resolver,
    *,
    expression_env: EnvFactory | None = None,
    strict: bool = True,
) -> Any:
    """Apply `substitute` to every string inside nested dicts/lists; keys stay as written."""
    if isinstance(obj, str):
        return substitute(obj, resolve, expression_env=expression_env, strict=strict)
    if isinstance(obj, Mapping):
        return {
            key: substitute_obj(value, resolve, expression_env=expression_env, strict=strict)
            for key, value in obj.items()
        }
    if isinstance(obj, (list, tuple)):
        items = [
            substitute_obj(value, resolve, expression_env=expression_env, strict=strict)
            for value in obj
        ]
        return type(obj)(items) if isinstance(obj, tuple) else items
    return obj
