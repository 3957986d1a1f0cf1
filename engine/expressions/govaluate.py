"""`when` conditions, evaluated the way Argo does it: govaluate with bare words as strings.

Argo substitutes `{{...}}` first, then hands the text to govaluate after turning every
variable token into a string literal (steps.go `shouldExecute`). So `heads == heads` is true
without quotes, while a value with spaces or `-` must be quoted. Supported here: numbers
(compared as floats), '...'/"..." strings, `[bracketed words]`, `true`/`false`, `== != < <= > >=`,
`=~`/`!~` (unanchored regex), `&& || !`, `+ - * / % **`, `in (a, b)`, `c ? a : b`, parentheses.
Deliberately absent: bitwise operators and govaluate's "strings that look like dates" coercion.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import Union

from engine.errors import ExpressionError
from engine.expressions._values import ORDERINGS, go_sprint

__all__ = ["evaluate_when"]

_QUOTE_HINT = "a value containing spaces, '-' or other symbols must be quoted, e.g. \"my-value\""
_OPERATORS = (
    "**", "==", "!=", ">=", "<=", "=~", "!~", "&&", "||",
    ">", "<", "!", "+", "-", "*", "/", "%", "?", ":", "(", ")", ",",
)  # fmt: skip
_COMPARATORS = frozenset({"==", "!=", "<", "<=", ">", ">=", "=~", "!~", "in"})
_NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|[0-9][0-9.]*")

_Value = Union[float, str, bool, tuple]


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # "value", "op", "end"
    value: object
    pos: int


def _lex(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch.isdigit():
            m = _NUMBER.match(text, i)
            assert m is not None
            raw = m.group()
            end = m.end()
            if end < n and (text[end].isalpha() or text[end] == "_"):
                raise ExpressionError(
                    f"invalid token {text[i : end + 1]!r}; {_QUOTE_HINT}", text, i
                )
            try:
                number = float(int(raw, 16)) if raw[:2] in ("0x", "0X") else float(raw)
            except ValueError:
                raise ExpressionError(f"invalid number {raw!r}; {_QUOTE_HINT}", text, i) from None
            tokens.append(_Tok("value", number, i))
            i = end
        elif ch.isalpha() or ch == "_":
            start = i
            while i < n and (text[i].isalnum() or text[i] in "_."):
                i += 1
            word = text[start:i]
            if word in ("true", "false"):
                tokens.append(_Tok("value", word == "true", start))
            elif word in ("in", "IN"):
                tokens.append(_Tok("op", "in", start))
            else:
                tokens.append(_Tok("value", word, start))
        elif ch in "'\"":
            value, end = _read_string(text, i)
            tokens.append(_Tok("value", value, i))
            i = end
        elif ch == "[":
            end = text.find("]", i)
            if end < 0:
                raise ExpressionError("unclosed '['", text, i)
            tokens.append(_Tok("value", text[i + 1 : end], i))
            i = end + 1
        else:
            op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
            if op is None:
                raise ExpressionError(f"invalid token {ch!r}; {_QUOTE_HINT}", text, i)
            tokens.append(_Tok("op", op, i))
            i += len(op)
    tokens.append(_Tok("end", None, n))
    return tokens


def _read_string(text: str, start: int) -> tuple[str, int]:
    quote, i, out = text[start], start + 1, []
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        elif ch == quote:
            return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    raise ExpressionError(f"unclosed string starting with {quote}", text, start)


# AST: ("lit", value) | ("list", items) | ("un", op, node) | ("bin", op, l, r) | ("if", c, a, b)
_Node = tuple


class _Parser:
    """Precedence climbing with govaluate's levels: ?: < || < && < comparators < +- < */% < **."""

    _LEVELS: tuple[frozenset[str], ...] = (
        frozenset({"||"}),
        frozenset({"&&"}),
        _COMPARATORS,
        frozenset({"+", "-"}),
        frozenset({"*", "/", "%"}),
        frozenset({"**"}),
    )

    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _lex(text)
        self.i = 0

    def _peek_op(self, ops: frozenset[str] | tuple[str, ...]) -> str | None:
        tok = self.toks[self.i]
        if tok.kind == "op" and tok.value in ops:
            return str(tok.value)
        return None

    def _expect(self, op: str, opened_at: int) -> None:
        if self._peek_op((op,)) is None:
            raise self._unexpected(f"expected {op!r} to close offset {opened_at}")
        self.i += 1

    def _unexpected(self, what: str = "") -> ExpressionError:
        tok = self.toks[self.i]
        if tok.kind == "end":
            found = "the end of the condition"
        elif tok.kind == "value":
            found = f"{go_sprint(tok.value)!r} (two values in a row; {_QUOTE_HINT})"
        else:
            found = repr(tok.value)
        message = f"{what}, found {found}" if what else f"unexpected {found}"
        return ExpressionError(message, self.text, tok.pos)

    def parse(self) -> _Node:
        if self.toks[0].kind == "end":
            raise ExpressionError("condition is empty", self.text, 0)
        node = self._ternary()
        if self.toks[self.i].kind != "end":
            raise self._unexpected()
        return node

    def _ternary(self) -> _Node:
        cond = self._binary(0)
        if self._peek_op(("?",)):
            at = self.toks[self.i].pos
            self.i += 1
            then = self._ternary()
            self._expect(":", at)
            return ("if", cond, then, self._ternary(), at)
        return cond

    def _binary(self, level: int) -> _Node:
        if level == len(self._LEVELS):
            return self._prefix()
        left = self._binary(level + 1)
        while (op := self._peek_op(self._LEVELS[level])) is not None:
            pos = self.toks[self.i].pos
            self.i += 1
            right = self._binary(level if op == "**" else level + 1)
            left = ("bin", op, left, right, pos)
        return left

    def _prefix(self) -> _Node:
        op = self._peek_op(("!", "-"))
        if op is not None:
            pos = self.toks[self.i].pos
            self.i += 1
            return ("un", op, self._prefix(), pos)
        return self._primary()

    def _primary(self) -> _Node:
        tok = self.toks[self.i]
        if tok.kind == "value":
            self.i += 1
            return ("lit", tok.value)
        if self._peek_op(("(",)):
            self.i += 1
            items = [self._ternary()]
            while self._peek_op((",",)):
                self.i += 1
                items.append(self._ternary())
            self._expect(")", tok.pos)
            return items[0] if len(items) == 1 else ("list", tuple(items), tok.pos)
        raise self._unexpected("expected a value")


@functools.lru_cache(maxsize=1024)
def _parse(text: str) -> _Node:
    return _Parser(text).parse()


def evaluate_when(text: str) -> bool:
    """Decide a `when` after substitution; an empty condition means "no condition" (true)."""
    if not text.strip():
        return True
    result = _Evaluator(text).eval(_parse(text))
    if not isinstance(result, bool):
        raise ExpressionError(f"when must evaluate to true or false, got {_show(result)}", text)
    return result


def _show(value: object) -> str:
    return repr(value) if isinstance(value, str) else go_sprint(value)


def _is_num(value: object) -> bool:
    return isinstance(value, float)


class _Evaluator:
    def __init__(self, text: str) -> None:
        self.text = text

    def fail(self, message: str, pos: int) -> ExpressionError:
        return ExpressionError(message, self.text, pos)

    def eval(self, node: _Node) -> _Value:
        kind = node[0]
        if kind == "lit":
            return node[1]  # type: ignore[no-any-return]
        if kind == "list":
            return tuple(self.eval(item) for item in node[1])
        if kind == "un":
            return self._unary(node[1], self.eval(node[2]), node[3])
        if kind == "if":
            cond = self.eval(node[1])
            if not isinstance(cond, bool):
                raise self.fail(
                    f"ternary condition must be true or false, got {_show(cond)}", node[4]
                )
            return self.eval(node[2] if cond else node[3])
        _, op, left_node, right_node, pos = node
        left = self.eval(left_node)
        if op in ("&&", "||"):
            self._need_bool(op, left, pos)
            if (op == "&&") != left:
                return left
            right = self.eval(right_node)
            self._need_bool(op, right, pos)
            return right
        return self._binary(op, left, self.eval(right_node), pos)

    def _need_bool(self, op: str, value: _Value, pos: int) -> None:
        if not isinstance(value, bool):
            raise self.fail(f"{_show(value)} cannot be used with {op!r}: it is not a boolean", pos)

    def _unary(self, op: str, value: _Value, pos: int) -> _Value:
        if op == "!":
            self._need_bool("!", value, pos)
            return not value
        if not _is_num(value):
            raise self.fail(f"cannot negate {_show(value)}: it is not a number", pos)
        return -value  # type: ignore[operator]

    def _binary(self, op: str, left: _Value, right: _Value, pos: int) -> _Value:
        if op in ("==", "!="):
            same = type(left) is type(right) and left == right
            return same if op == "==" else not same
        if op == "in":
            items = right if isinstance(right, tuple) else (right,)
            return any(type(left) is type(item) and left == item for item in items)
        if op in ("=~", "!~"):
            if not (isinstance(left, str) and isinstance(right, str)):
                raise self.fail(
                    f"{op!r} needs a string on both sides, got {_show(left)} and {_show(right)}",
                    pos,
                )
            try:
                found = re.search(right, left) is not None
            except re.error as err:
                raise self.fail(f"invalid regular expression {right!r}: {err}", pos) from None
            return found if op == "=~" else not found
        if op in _COMPARATORS:
            if (_is_num(left) and _is_num(right)) or (
                isinstance(left, str) and isinstance(right, str)
            ):
                return _compare(op, left, right)
            raise self.fail(
                f"cannot compare {_show(left)} {op} {_show(right)}: both sides must be "
                f"numbers or both strings",
                pos,
            )
        if op == "+" and (isinstance(left, str) or isinstance(right, str)):
            return go_sprint(left) + go_sprint(right)
        if not (_is_num(left) and _is_num(right)):
            bad = left if not _is_num(left) else right
            raise self.fail(
                f"{_show(bad)} cannot be used with {op!r}: it is not a number ({_QUOTE_HINT})", pos
            )
        return _arith(op, left, right)  # type: ignore[arg-type]


def _compare(op: str, left: _Value, right: _Value) -> bool:
    return bool(ORDERINGS[op](left, right))


def _arith(op: str, left: float, right: float) -> float:
    """Float arithmetic with Go's IEEE results (x/0 is ±Inf, not an exception)."""
    if op in ("/", "%") and right == 0:
        if op == "%" or left == 0 or math.isnan(left):
            return math.nan
        return math.copysign(math.inf, left) * math.copysign(1.0, right)
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if op == "/":
        return left / right
    if op == "%":
        return math.fmod(left, right)
    try:
        return math.pow(left, right)
    except (OverflowError, ValueError):
        return math.inf if left > 0 else math.nan
