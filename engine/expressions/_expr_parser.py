"""Precedence-climbing parser for the expr-lang subset, mirroring expr's own operator table.

Precedences (expr-lang parser/operator): `or ||` 10, `and &&` 15, comparisons / `in` /
`matches` / `contains` / `startsWith` / `endsWith` 20, `..` 25, `+ -` 30, `* / %` 60,
`** ^` 100 (right-assoc), `??` 500; unary `not !` 50, unary `- +` 90; the ternary binds loosest.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Union

from engine.errors import ExpressionError
from engine.expressions._expr_lexer import WORD_OPERATORS, Token, tokenize

BINARY: dict[str, tuple[int, bool]] = {  # op -> (precedence, right associative)
    "or": (10, False), "||": (10, False), "and": (15, False), "&&": (15, False),
    "==": (20, False), "!=": (20, False), "<": (20, False), ">": (20, False),
    "<=": (20, False), ">=": (20, False), "in": (20, False), "matches": (20, False),
    "contains": (20, False), "startsWith": (20, False), "endsWith": (20, False),
    "..": (25, False), "+": (30, False), "-": (30, False), "*": (60, False),
    "/": (60, False), "%": (60, False), "**": (100, True), "^": (100, True),
    "??": (500, False),
}  # fmt: skip
UNARY = {"not": 50, "!": 50, "-": 90, "+": 90}
NEGATABLE = frozenset({"in", "matches", "contains", "startsWith", "endsWith"})
PREDICATE_FUNCTIONS = frozenset({
    "all", "none", "any", "one", "filter", "map", "count", "sum", "find", "findIndex",
    "findLast", "findLastIndex", "groupBy", "sortBy", "reduce",
})  # fmt: skip


@dataclass(frozen=True, slots=True)
class Literal:
    value: Any
    pos: int


@dataclass(frozen=True, slots=True)
class Ident:
    name: str
    pos: int


@dataclass(frozen=True, slots=True)
class Pointer:
    """`#`, `#index`, `#acc` (name "", "index", "acc") inside a predicate."""

    name: str
    pos: int


@dataclass(frozen=True, slots=True)
class Member:
    obj: Node
    key: Node
    optional: bool
    pos: int


@dataclass(frozen=True, slots=True)
class Slice:
    obj: Node
    start: Node | None
    stop: Node | None
    pos: int


@dataclass(frozen=True, slots=True)
class Call:
    """`name(args)`; `obj` is set for method-style calls like `sprig.upper(x)`."""

    name: str
    args: tuple[Node, ...]
    obj: Node | None
    pos: int


@dataclass(frozen=True, slots=True)
class Predicate:
    body: Node
    pos: int


@dataclass(frozen=True, slots=True)
class Unary:
    op: str
    operand: Node
    pos: int


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: Node
    right: Node
    pos: int


@dataclass(frozen=True, slots=True)
class Conditional:
    """`cond ? then : other`; `then` is None for the short form `cond ?: other`."""

    cond: Node
    then: Node | None
    other: Node
    pos: int


@dataclass(frozen=True, slots=True)
class ArrayLit:
    items: tuple[Node, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class MapLit:
    pairs: tuple[tuple[Node, Node], ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Chain:
    """Root of a member chain containing `?.`: a nil met along the way makes it all nil."""

    node: Node
    pos: int


Node = Union[
    Literal,
    Ident,
    Pointer,
    Member,
    Slice,
    Call,
    Predicate,
    Unary,
    Binary,
    Conditional,
    ArrayLit,
    MapLit,
    Chain,
]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0  # > 0 inside a predicate, where `#` is allowed

    @property
    def cur(self) -> Token:
        return self.tokens[self.i]

    def is_(self, kind: str, *values: object) -> bool:
        tok = self.cur
        return tok.kind == kind and (not values or tok.value in values)

    def advance(self) -> Token:
        tok = self.cur
        if tok.kind != "eof":
            self.i += 1
        return tok

    def fail(self, message: str, tok: Token | None = None) -> ExpressionError:
        tok = tok or self.cur
        return ExpressionError(message, self.text, tok.pos)

    def unexpected(self, expecting: str = "") -> ExpressionError:
        tok = self.cur
        found = (
            "end of expression" if tok.kind == "eof" else f"token {self.text[tok.pos : tok.end]!r}"
        )
        suffix = f"; expected {expecting}" if expecting else ""
        return self.fail(f"unexpected {found}{suffix}")

    def expect(self, kind: str, value: str) -> Token:
        if not self.is_(kind, value):
            raise self.unexpected(repr(value))
        return self.advance()

    def parse(self) -> Node:
        if self.is_("eof"):
            raise self.fail("expression is empty")
        node = self.expression(0)
        if not self.is_("eof"):
            raise self.unexpected("an operator or the end of the expression")
        return node

    def expression(self, precedence: int) -> Node:
        left = self.primary()
        previous = ""
        while self.is_("op"):
            tok = self.cur
            op, negate = str(tok.value), False
            if op == "not":
                follow = self.tokens[self.i + 1]
                if follow.kind != "op" or follow.value not in NEGATABLE:
                    raise self.fail(
                        "'not' here must be followed by in, matches, contains, "
                        "startsWith or endsWith",
                        follow,
                    )
                op, negate = str(follow.value), True
            info = BINARY.get(op)
            if info is None or info[0] < precedence:
                break
            self.i += 2 if negate else 1
            if previous == "??" and op != "??":
                raise self.fail(f"operator {op!r} and '??' cannot be mixed; add parentheses", tok)
            prec, right_assoc = info
            right = self.expression(prec if right_assoc else prec + 1)
            left = Binary(op, left, right, tok.pos)
            if negate:
                left = Unary("not", left, tok.pos)
            previous = op
        if precedence == 0:
            left = self.conditional(left)
        return left

    def conditional(self, cond: Node) -> Node:
        while self.is_("op", "?"):
            tok = self.advance()
            if self.is_("op", ":"):  # `a ?: b` keeps a unless it is nil or false
                self.advance()
                cond = Conditional(cond, None, self.expression(0), tok.pos)
                continue
            then = self.expression(0)
            self.expect("op", ":")
            cond = Conditional(cond, then, self.expression(0), tok.pos)
        return cond

    def primary(self) -> Node:
        tok = self.cur
        if tok.kind == "op" and tok.value in UNARY:
            self.advance()
            operand = self.expression(UNARY[str(tok.value)])
            return self.postfix(Unary(str(tok.value), operand, tok.pos))
        if self.is_("bracket", "("):
            self.advance()
            inner = self.expression(0)
            if not self.is_("bracket", ")"):
                raise self.unexpected(f"')' to close '(' at offset {tok.pos}")
            self.advance()
            return self.postfix(inner)
        if self.is_("op", "#", "."):
            if self.depth == 0:
                raise self.fail(
                    "'#' and '.field' are only allowed inside a predicate "
                    "such as filter(list, {# > 1})"
                )
            name = ""
            if tok.value == "#":
                self.advance()
                nxt = self.cur
                if nxt.kind == "ident" and nxt.pos == tok.end:
                    name = str(nxt.value)
                    self.advance()
            return self.postfix(Pointer(name, tok.pos))
        return self.postfix(self.secondary())

    def secondary(self) -> Node:
        tok = self.cur
        if tok.kind == "ident":
            self.advance()
            word = tok.value
            if word in ("true", "false"):
                return Literal(word == "true", tok.pos)
            if word == "nil":
                return Literal(None, tok.pos)
            if self.is_("bracket", "("):
                return self.call(str(word), None, tok)
            return Ident(str(word), tok.pos)
        if tok.kind in ("number", "string"):
            self.advance()
            return Literal(tok.value, tok.pos)
        if self.is_("bracket", "["):
            self.advance()
            items = self.sequence("]")
            return ArrayLit(tuple(items), tok.pos)
        if self.is_("bracket", "{"):
            return self.map_literal()
        raise self.unexpected("a value")

    def sequence(self, close: str) -> list[Node]:
        items: list[Node] = []
        while not self.is_("bracket", close):
            if items:
                self.expect("op", ",")
                if self.is_("bracket", close):
                    break
            items.append(self.expression(0))
        self.advance()
        return items

    def map_literal(self) -> MapLit:
        start = self.advance()
        pairs: list[tuple[Node, Node]] = []
        while not self.is_("bracket", "}"):
            if pairs:
                self.expect("op", ",")
                if self.is_("bracket", "}"):
                    break
            tok = self.cur
            if tok.kind in ("ident", "number", "string") or (
                tok.kind == "op" and tok.value in WORD_OPERATORS
            ):
                key: Node = Literal(
                    self.text[tok.pos : tok.end] if tok.kind == "number" else tok.value, tok.pos
                )
                self.advance()
            elif self.is_("bracket", "("):
                key = self.expression(0)
            else:
                raise self.unexpected("a map key (name, string, number or (expression))")
            self.expect("op", ":")
            pairs.append((key, self.expression(0)))
        self.advance()
        return MapLit(tuple(pairs), start.pos)

    def call(self, name: str, obj: Node | None, tok: Token) -> Call:
        self.expect("bracket", "(")
        if obj is not None or name not in PREDICATE_FUNCTIONS:
            return Call(name, tuple(self.sequence(")")), obj, tok.pos)
        args: list[Node] = [self.expression(0)]
        while self.is_("op", ","):
            self.advance()
            if self.is_("bracket", ")"):
                break
            args.append(self.predicate() if len(args) == 1 else self.expression(0))
        self.expect("bracket", ")")
        return Call(name, tuple(args), None, tok.pos)

    def predicate(self) -> Predicate:
        tok = self.cur
        braced = self.is_("bracket", "{")
        if braced:
            self.advance()
        self.depth += 1
        body = self.expression(0)
        self.depth -= 1
        if braced:
            if not self.is_("bracket", "}"):
                raise self.unexpected(f"'}}' to close the predicate opened at offset {tok.pos}")
            self.advance()
        return Predicate(body, tok.pos)

    def postfix(self, node: Node) -> Node:
        chained = False
        while True:
            tok = self.cur
            if tok.kind == "op" and tok.value in (".", "?."):
                optional = tok.value == "?."
                chained = chained or optional
                self.advance()
                if optional and self.is_("bracket", "["):
                    node = self.index(node, optional=True)
                    continue
                prop = self.cur
                is_word = prop.kind == "op" and prop.value in WORD_OPERATORS
                if prop.kind != "ident" and not is_word:
                    raise self.unexpected("a field name after '.'")
                self.advance()
                if self.is_("bracket", "("):
                    node = self.call(str(prop.value), node, prop)
                else:
                    node = Member(node, Literal(prop.value, prop.pos), optional, prop.pos)
            elif self.is_("bracket", "["):
                node = self.index(node, optional=False)
            else:
                return Chain(node, node.pos) if chained else node

    def index(self, node: Node, optional: bool) -> Node:
        tok = self.advance()
        start: Node | None = None
        if not self.is_("op", ":"):
            start = self.expression(0)
            if self.is_("bracket", "]"):
                self.advance()
                return Member(node, start, optional, tok.pos)
            if not self.is_("op", ":"):
                raise self.unexpected(f"']' to close '[' at offset {tok.pos}")
        self.advance()
        stop = None if self.is_("bracket", "]") else self.expression(0)
        self.expect("bracket", "]")
        return Slice(node, start, stop, tok.pos)


@functools.lru_cache(maxsize=2048)
def parse_expr(text: str) -> Node:
    """Parse once per distinct text; expressions repeat across loop items and ticks."""
    return _Parser(text).parse()
