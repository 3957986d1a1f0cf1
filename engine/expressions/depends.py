"""Argo's DAG `depends` grammar: boolean formulas over upstream task results.

Grammar (docs/enhanced-depends-logic.md)::

    expr    := and ( "||" and )*
    and     := unary ( "&&" unary )*
    unary   := "!" unary | primary
    primary := operand | "(" expr ")"
    operand := TASK [ "." RESULT ]

`TASK` is letters, digits, `-` and `_`, not starting with a digit (Argo rejects those because it
rewrites names into expr-lang identifiers). A bare `TASK` is not expanded here: the engine knows
each task's `continueOn`, so `evaluate` hands bare operands to its resolver with `result=None`.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Union

from engine._compat import StrEnum
from engine.errors import ExpressionError

__all__ = [
    "DependsExpr",
    "DependsResolver",
    "TaskResult",
    "dependencies_to_depends",
    "parse_depends",
]


class TaskResult(StrEnum):
    """The `.Result` suffixes Argo accepts after a task name in `depends`."""

    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ERRORED = "Errored"
    SKIPPED = "Skipped"
    OMITTED = "Omitted"
    DAEMONED = "Daemoned"
    ANY_SUCCEEDED = "AnySucceeded"
    ALL_FAILED = "AllFailed"


DependsResolver = Callable[[str, Union[TaskResult, None]], bool]
"""Answers "did `task` end with `result`?"; `result=None` means the bare-name expansion."""

_VALID_RESULTS = ", ".join(r.value for r in TaskResult)
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


@dataclass(frozen=True, slots=True)
class _Operand:
    task: str
    result: TaskResult | None


@dataclass(frozen=True, slots=True)
class _Not:
    operand: _Node


@dataclass(frozen=True, slots=True)
class _All:
    """n-ary `&&`; flat so long chains do not recurse deeply."""

    operands: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Any:
    """n-ary `||`."""

    operands: tuple[_Node, ...]


_Node = Union[_Operand, _Not, _All, _Any]


@dataclass(frozen=True)
class DependsExpr:
    """A parsed `depends` formula; immutable so parses can be cached and shared across ticks."""

    text: str
    _tree: _Node = field(repr=False, compare=True)

    def task_names(self) -> frozenset[str]:
        """Every task the formula mentions: the engine waits until all of them are fulfilled."""
        return frozenset(task for task, _ in self.operands())

    def operands(self) -> list[tuple[str, TaskResult | None]]:
        """Distinct operands in the order written, so validation messages follow the source."""
        seen: dict[tuple[str, TaskResult | None], None] = {}
        stack: list[_Node] = [self._tree]
        while stack:
            node = stack.pop()
            if isinstance(node, _Operand):
                seen.setdefault((node.task, node.result), None)
            elif isinstance(node, _Not):
                stack.append(node.operand)
            else:
                stack.extend(reversed(node.operands))
        return list(seen)

    def evaluate(self, resolve: DependsResolver) -> bool:
        """Decide the formula; `resolve` supplies each operand's truth, asked lazily."""
        return _evaluate(self._tree, resolve)


def _evaluate(node: _Node, resolve: DependsResolver) -> bool:
    if isinstance(node, _Operand):
        return bool(resolve(node.task, node.result))
    if isinstance(node, _Not):
        return not _evaluate(node.operand, resolve)
    if isinstance(node, _All):
        return all(_evaluate(child, resolve) for child in node.operands)
    return any(_evaluate(child, resolve) for child in node.operands)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "name", "&&", "||", "!", "(", ")", "end"
    text: str
    pos: int


def _fail(message: str, text: str, pos: int) -> ExpressionError:
    return ExpressionError(f"depends: {message}", text, pos)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif text.startswith(("&&", "||"), i):
            tokens.append(_Token(text[i : i + 2], text[i : i + 2], i))
            i += 2
        elif ch in "!()":
            tokens.append(_Token(ch, ch, i))
            i += 1
        elif ch in "&|":
            raise _fail(f"'{ch}' is not an operator; use '{ch * 2}'", text, i)
        elif ch in _NAME_CHARS:
            start = i
            while i < n and (text[i] in _NAME_CHARS or text[i] == "."):
                i += 1
            tokens.append(_Token("name", text[start:i], start))
        else:
            raise _fail(
                f"unexpected character {ch!r}; "
                "expected a task name, '&&', '||', '!' or parentheses",
                text,
                i,
            )
    tokens.append(_Token("end", "", n))
    return tokens


def _operand(token: _Token, text: str) -> _Operand:
    task, dot, suffix = token.text.partition(".")
    if not task:
        raise _fail(f"missing task name before '.{suffix}'", text, token.pos)
    if task[0].isdigit():
        raise _fail(
            f"task name {task!r} starts with a digit, which Argo cannot evaluate; rename the task",
            text,
            token.pos,
        )
    if not dot:
        return _Operand(task, None)
    if not suffix:
        raise _fail(
            f"missing result after '{task}.'; valid results are {_VALID_RESULTS}",
            text,
            token.pos + len(task) + 1,
        )
    try:
        return _Operand(task, TaskResult(suffix))
    except ValueError:
        pass
    hint = difflib.get_close_matches(suffix, [r.value for r in TaskResult], n=1)
    did_you_mean = f" (did you mean {task}.{hint[0]}?)" if hint else ""
    raise _fail(
        f"unknown task result {suffix!r} in {token.text!r}{did_you_mean}; "
        f"valid results are {_VALID_RESULTS}",
        text,
        token.pos + len(task) + 1,
    )


class _Parser:
    """Recursive descent over the token list; precedence ! > && > ||."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def parse(self) -> _Node:
        if self.current.kind == "end":
            raise _fail("expression is empty; name at least one task", self.text, 0)
        node = self._or()
        if self.current.kind != "end":
            tok = self.current
            what = "')' without a matching '('" if tok.kind == ")" else repr(tok.text)
            raise _fail(f"unexpected {what} after a complete expression", self.text, tok.pos)
        return node

    def _or(self) -> _Node:
        parts = [self._and()]
        while self.current.kind == "||":
            self.index += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else _Any(tuple(parts))

    def _and(self) -> _Node:
        parts = [self._unary()]
        while self.current.kind == "&&":
            self.index += 1
            parts.append(self._unary())
        return parts[0] if len(parts) == 1 else _All(tuple(parts))

    def _unary(self) -> _Node:
        if self.current.kind == "!":
            self.index += 1
            return _Not(self._unary())
        return self._primary()

    def _primary(self) -> _Node:
        tok = self.current
        if tok.kind == "name":
            self.index += 1
            return _operand(tok, self.text)
        if tok.kind == "(":
            self.index += 1
            node = self._or()
            if self.current.kind != ")":
                raise _fail(f"'(' at offset {tok.pos} is never closed", self.text, self.current.pos)
            self.index += 1
            return node
        found = "the end of the expression" if tok.kind == "end" else repr(tok.text)
        raise _fail(f"expected a task name or '(' but found {found}", self.text, tok.pos)


@functools.lru_cache(maxsize=1024)
def parse_depends(text: str) -> DependsExpr:
    """Parse once, reuse forever: the engine re-evaluates every DAG task on each tick."""
    return DependsExpr(text, _Parser(text).parse())


def dependencies_to_depends(names: Sequence[str]) -> str:
    """Rewrite the legacy `dependencies:` list as the equivalent `depends` text ("" for none)."""
    if isinstance(names, str):
        raise TypeError("dependencies_to_depends expects a list of task names, not a string")
    return " && ".join(names)
