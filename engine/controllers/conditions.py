"""`successCondition` / `failureCondition`: Kubernetes label-selector syntax over JSON paths.

Argo parses each condition with `labels.Parse` (k8s apimachinery) and reads the object through
gjson (`workflow/executor/resource.go`, `gjsonLabels`): the selector's "label keys" are gjson
paths into the object (`status.succeeded`, `status.conditions.0.type`) and the value of a key is
gjson's `String()` of what the path selects. This module follows both, so a condition means the
same on the laptop and on a cluster:

* grammar: comma-separated requirements; `key`, `!key`, `key = v`, `key == v`, `key != v`,
  `key in (a, b)`, `key notin (a, b)`, `key > 3`, `key < 3`;
* keys and values are checked as label keys/values are (a key segment of at most 63 characters
  of `[A-Za-z0-9_.-]`; a value of at most 63 of the same, starting and ending alphanumeric), and
  `>`/`<` need an integer: what the cluster rejects is rejected here;
* matching (`Requirement.Matches`): `=`, `==`, `in`, `>`, `<` and existence are false when the
  path selects nothing; `!=`, `notin` and `!key` are true then (a missing label is "not equal");
  `>`/`<` compare as 64-bit integers, so `10 > 9` holds and a non-integer value never matches;
* combining (`matchConditions`): a success condition holds when *all* its requirements match;
  a failure condition holds when *any* of its requirements matches (Argo checks them one by one
  and fails on the first match); failure is checked first.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from engine.errors import KubepipeError

__all__ = ["ConditionError", "Requirement", "Selector", "gjson_get", "parse_condition"]

_INT64 = (-(2**63), 2**63 - 1)
_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_SPECIAL = "=!(),><"
_OPERATORS = ("!=", "==", "=", ">", "<", "(", ")", ",", "!")


class ConditionError(KubepipeError):
    """A condition that does not parse, as `labels.Parse` would reject it."""


# -- reading the object ------------------------------------------------------------------------
_MISSING = object()


def gjson_get(obj: Any, path: str) -> tuple[bool, str]:
    """(exists, text) for a dotted path, as gjson's `Get(path).Exists()` and `.String()` read it.

    Numeric segments index arrays and `#` is an array's length; a JSON null exists and reads
    as the empty string; objects and arrays read as their JSON text.
    """
    node: Any = obj
    for part in path.split("."):
        if isinstance(node, dict):
            node = node.get(part, _MISSING)
        elif isinstance(node, list):
            if part == "#":
                node = len(node)
            elif part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                node = _MISSING
        else:
            node = _MISSING
        if node is _MISSING:
            return False, ""
    return True, gjson_string(node)


def gjson_string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # gjson keeps an integer's raw text and prints other numbers with FormatFloat(f, 'f', -1)
        if math.isnan(value) or math.isinf(value):
            return str(value)
        text = format(Decimal(repr(value)), "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=False)


def _parse_int(text: str) -> int | None:
    """Go's strconv.ParseInt(text, 10, 64): None when it would fail."""
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        return None
    value = int(text)
    return value if _INT64[0] <= value <= _INT64[1] else None


# -- the model ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # exists | !exists | = | == | != | in | notin | > | <
    values: tuple[str, ...] = ()

    def matches(self, obj: Any) -> bool:
        exists, text = gjson_get(obj, self.key)
        op = self.op
        if op in ("in", "=", "=="):
            return exists and text in self.values
        if op in ("notin", "!="):
            return not exists or text not in self.values
        if op == "exists":
            return exists
        if op == "!exists":
            return not exists
        if not exists:
            return False
        left, right = _parse_int(text), _parse_int(self.values[0])
        if left is None or right is None:
            return False
        return left > right if op == ">" else left < right

    def __str__(self) -> str:  # k8s Requirement.String()
        if self.op == "exists":
            return self.key
        if self.op == "!exists":
            return "!" + self.key
        if self.op in ("in", "notin"):
            return f"{self.key} {self.op} ({','.join(sorted(self.values))})"
        return f"{self.key}{self.op}{self.values[0]}"


@dataclass(frozen=True)
class Selector:
    text: str
    requirements: tuple[Requirement, ...]

    def all_match(self, obj: Any) -> bool:
        """Success: every requirement matches (an empty selector matches everything)."""
        return all(r.matches(obj) for r in self.requirements)

    def first_match(self, obj: Any) -> Requirement | None:
        """Failure: the first requirement that matches, or None."""
        for req in self.requirements:
            if req.matches(obj):
                return req
        return None


# -- parsing -----------------------------------------------------------------------------------
def _lex(text: str) -> list[tuple[str, str]]:
    """Tokens as (kind, literal); kind is the operator itself, 'id', or 'end'."""
    tokens: list[tuple[str, str]] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
            continue
        if ch in _SPECIAL:
            for op in _OPERATORS:
                if text.startswith(op, i):
                    tokens.append((op, op))
                    i += len(op)
                    break
            else:  # a lone special character with no operator spelled from it
                raise ConditionError(f"unexpected {ch!r} at offset {i}")
            continue
        start = i
        while i < len(text) and text[i] not in _SPECIAL and text[i] not in " \t\r\n":
            i += 1
        word = text[start:i]
        tokens.append((word if word in ("in", "notin") else "id", word))
    tokens.append(("end", ""))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _lex(text)
        self.pos = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos]

    def take(self) -> tuple[str, str]:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def fail(self, found: str, expected: str) -> ConditionError:
        return ConditionError(f"found '{found}', expected: {expected}")

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        if self.peek()[0] == "end":
            return reqs
        while True:
            reqs.append(self.requirement())
            kind, lit = self.take()
            if kind == "end":
                return reqs
            if kind != ",":
                raise self.fail(lit, "',' or 'end of string'")

    def requirement(self) -> Requirement:
        negate = False
        kind, lit = self.take()
        if kind == "!":
            negate = True
            kind, lit = self.take()
        if kind != "id":
            raise self.fail(lit, "identifier" if negate or kind != "," else "identifier after ','")
        key = lit
        _check_key(key)
        if self.peek()[0] in ("end", ","):
            return Requirement(key, "!exists" if negate else "exists")
        if negate:
            raise self.fail(self.peek()[1], "',' or 'end of string' after '!key'")
        kind, lit = self.take()
        if kind in ("in", "notin"):
            values = self.value_set()
        elif kind in ("=", "==", "!=", ">", "<"):
            values = (self.exact_value(),)
            if kind in (">", "<") and _parse_int(values[0]) is None:
                raise ConditionError(
                    f"for '>', '<' operators, the value must be an integer, got {values[0]!r}"
                )
        else:
            raise self.fail(lit, "in, notin, =, ==, !=, >, <")
        for value in values:
            _check_value(key, value)
        return Requirement(key, kind, values)

    def exact_value(self) -> str:
        kind, lit = self.peek()
        if kind in ("end", ","):
            return ""
        if kind in ("id", "in", "notin"):
            self.take()
            return lit
        raise self.fail(lit, "identifier")

    def value_set(self) -> tuple[str, ...]:
        kind, lit = self.take()
        if kind != "(":
            raise self.fail(lit, "'('")
        values: list[str] = []
        expect_value = True
        while True:
            kind, lit = self.take()
            if kind == ")":
                if expect_value:
                    values.append("")
                return tuple(values)
            if kind == ",":
                if expect_value:
                    values.append("")
                expect_value = True
            elif kind in ("id", "in", "notin") and expect_value:
                values.append(lit)
                expect_value = False
            else:
                raise self.fail(lit, "',' or ')'")


def _check_key(key: str) -> None:
    prefix, slash, name = key.rpartition("/")
    problems = []
    if key.count("/") > 1:
        problems.append("a key may have at most one '/'")
    elif slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        problems.append("the part before '/' must be a lowercase DNS subdomain")
    if not name or len(name) > 63 or not _NAME.fullmatch(name):
        problems.append(
            "a key must be at most 63 characters of letters, digits, '-', '_' and '.', "
            "starting and ending with a letter or digit"
        )
    if problems:
        raise ConditionError(f"invalid path {key!r}: {'; '.join(problems)}")


def _check_value(key: str, value: str) -> None:
    if len(value) > 63 or not _VALUE.fullmatch(value):
        raise ConditionError(
            f"invalid value {value!r} for {key!r}: a value must be at most 63 characters of letters, "
            "digits, '-', '_' and '.', starting and ending with a letter or digit"
        )


@lru_cache(maxsize=256)
def parse_condition(text: str) -> Selector:
    """Parse a condition; ConditionError names the condition and what is wrong with it."""
    try:
        return Selector(text, tuple(_Parser(text).parse()))
    except ConditionError as exc:
        raise ConditionError(f"condition {text!r} does not parse: {exc}") from None
