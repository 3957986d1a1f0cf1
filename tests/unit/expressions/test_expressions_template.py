"""`{{...}}` placeholders: discovery, substitution, expression rendering, recursion."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from _expressions_corpus import strings_containing
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import ExpressionError, UnresolvedReference
from engine.expressions import (
    Placeholder,
    UndefinedName,
    find_placeholders,
    substitute,
    substitute_obj,
)

VALUES = {"inputs.parameters.message": "hello world", "workflow.name": "wf-1", "item": "3"}


def resolve(name: str) -> str | None:
    return VALUES.get(name)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", []),
        ("a {{x}} b", [Placeholder("x", 2, 7, False)]),
        ("{{ y.z }}{{w}}", [Placeholder("y.z", 0, 9, False), Placeholder("w", 9, 14, False)]),
        ("{{=1 + 2}}", [Placeholder("1 + 2", 0, 10, True)]),
        ("{{= {a: {b: 1}} }}", [Placeholder("{a: {b: 1}}", 0, 18, True)]),
        ("{{= sprig.dict('k', '}}') }} x", [Placeholder("sprig.dict('k', '}}')", 0, 28, True)]),
        ("{{=\n  map([1], {# + 1})\n}}", [Placeholder("map([1], {# + 1})", 0, 26, True)]),
        ("{{x", []),
        ("{{=x", []),
        ("}} {{x}}", [Placeholder("x", 3, 8, False)]),
        ("{{ a {{b}}", [Placeholder("b", 5, 10, False)]),
        ("{{{x}}}", [Placeholder("x", 1, 6, False)]),
        ('{"a": {{x}}}', [Placeholder("x", 6, 11, False)]),
        ("{{}}", [Placeholder("", 0, 4, False)]),
        ("{x} {y}", []),
        ("{{= 'a' }}{{b}}", [Placeholder("'a'", 0, 10, True), Placeholder("b", 10, 15, False)]),
    ],
)
def test_find_placeholders(text: str, expected: list[Placeholder]) -> None:
    assert find_placeholders(text) == expected


def test_substitutes_simple_tags() -> None:
    text = "echo {{inputs.parameters.message}} from {{ workflow.name }} #{{item}}"
    assert substitute(text, resolve) == "echo hello world from wf-1 #3"


def test_substitution_is_single_pass() -> None:
    assert substitute("{{a}}", lambda name: "{{b}}") == "{{b}}"


def test_strict_missing_reference_raises() -> None:
    expected = r"unresolved reference \{\{steps\.x\.outputs\.result\}\}"
    with pytest.raises(UnresolvedReference, match=expected):
        substitute("v={{steps.x.outputs.result}}", resolve)


def test_lenient_missing_reference_is_kept_verbatim() -> None:
    text = "{{workflow.name}}-{{ later.value }}-{{=later + 1}}"
    assert substitute(text, resolve, expression_env=lambda: {}, strict=False) == (
        "wf-1-{{ later.value }}-{{=later + 1}}"
    )


@pytest.mark.parametrize(
    ("expression", "rendered"),
    [
        ("'text with \"quotes\"'", 'text with "quotes"'),
        ("6 * 5", "30"),
        ("6.0 * 5", "30"),
        ("7 / 2", "3.5"),
        ("1 < 2", "true"),
        ("[1, 'a', nil]", '[1,"a",null]'),
        ("{b: 2, a: [1.5]}", '{"a":[1.5],"b":2}'),
        ("filter([1, 3], {# > 1})", "[3]"),
        ("t", "2024-01-02T03:04:05Z"),
        ("1e6", "1000000"),
    ],
)
def test_expression_rendering(expression: str, rendered: str) -> None:
    env = {"t": datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)}
    assert substitute(f"<{{{{={expression}}}}}>", resolve, expression_env=lambda: env) == (
        f"<{rendered}>"
    )


def test_expression_env_is_built_once_and_only_when_needed() -> None:
    calls: list[int] = []

    def env() -> dict[str, Any]:
        calls.append(1)
        return {"x": 2}

    assert substitute("{{item}}", resolve, expression_env=env) == "3"
    assert calls == []
    assert substitute("{{=x}} {{=x * x}} {{item}}", resolve, expression_env=env) == "2 4 3"
    assert calls == [1]


def test_expression_without_env_is_rejected() -> None:
    with pytest.raises(ExpressionError, match=r"expression tags \{\{= \.\.\.\}\} are not allowed"):
        substitute("{{=1}}", resolve)


def test_nil_expression_result() -> None:
    with pytest.raises(ExpressionError, match=r"evaluated to nil; use \?\? to give a default"):
        substitute("{{=nil}}", resolve, expression_env=dict)
    assert substitute("{{=nil}}", resolve, expression_env=dict, strict=False) == "{{=nil}}"


def test_expression_errors_propagate_when_strict() -> None:
    with pytest.raises(UndefinedName, match=r"unknown name 'fooo' in inputs\.parameters"):
        substitute(
            "{{=inputs.parameters.fooo}}",
            resolve,
            expression_env=lambda: {"inputs": {"parameters": {"foo": "1"}}},
        )
    with pytest.raises(ExpressionError, match=r"cannot encode NaN as JSON"):
        substitute("{{=x}}", resolve, expression_env=lambda: {"x": float("nan")})


def test_substitute_obj_walks_nested_values() -> None:
    spec = {
        "args": ["echo", "{{inputs.parameters.message}}", 7],
        "env": [{"name": "{{item}}", "value": "{{=asInt(item) * 2}}"}],
        "{{item}}": ("{{workflow.name}}", None, True),
    }
    out = substitute_obj(spec, resolve, expression_env=lambda: {"item": "3"})
    assert out == {
        "args": ["echo", "hello world", 7],
        "env": [{"name": "3", "value": "6"}],
        "{{item}}": ("wf-1", None, True),
    }
    assert spec["args"][1] == "{{inputs.parameters.message}}"  # input left untouched


def test_substitute_obj_strictness_is_forwarded() -> None:
    with pytest.raises(UnresolvedReference):
        substitute_obj({"a": ["{{nope}}"]}, resolve)
    assert substitute_obj({"a": ["{{nope}}"]}, resolve, strict=False) == {"a": ["{{nope}}"]}


def test_every_corpus_tag_is_found() -> None:
    strings = strings_containing("{{")
    assert len(strings) > 100
    for where, text in strings:
        found = find_placeholders(text)
        assert len(found) == text.count("{{") - text.count("{{{"), where
        assert all(ph.inner for ph in found), where


# --- properties --------------------------------------------------------------------------------

_PLAIN = st.text(alphabet=st.characters(blacklist_characters="{}", blacklist_categories=("Cs",)))
_NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,20}", fullmatch=True)


@given(text=_PLAIN)
def test_text_without_braces_is_unchanged(text: str) -> None:
    assert find_placeholders(text) == []
    assert substitute(text, lambda name: "X") == text


@given(
    parts=st.lists(st.tuples(_PLAIN, _NAMES, st.sampled_from(["", " ", "  "])), max_size=6),
    tail=_PLAIN,
)
def test_inserted_placeholders_are_found(parts: list[tuple[str, str, str]], tail: str) -> None:
    text, expected_text, expected = "", "", []
    for literal, name, pad in parts:
        start = len(text) + len(literal)
        text += f"{literal}{{{{{pad}{name}{pad}}}}}"
        expected.append(Placeholder(name, start, len(text), False))
        expected_text += f"{literal}<{name}>"
    text += tail
    expected_text += tail
    assert find_placeholders(text) == expected
    assert substitute(text, lambda name: f"<{name}>") == expected_text


@given(text=st.text(alphabet="{}=ab .'\"x\n", max_size=40))
def test_placeholders_are_ordered_and_well_formed(text: str) -> None:
    found = find_placeholders(text)
    previous_end = 0
    for ph in found:
        assert previous_end <= ph.start < ph.end
        assert text.startswith("{{", ph.start) and text[: ph.end].endswith("}}")
        assert text.startswith("{{=", ph.start) == ph.is_expression
        previous_end = ph.end


@given(text=st.text(alphabet="{}ab .x\n", max_size=40))
def test_lenient_substitution_of_unknowns_is_identity(text: str) -> None:
    assert substitute(text, lambda name: None, strict=False) == text
