"""`when` conditions, govaluate style: bare words are strings, numbers compare as numbers."""

from __future__ import annotations

import itertools

import pytest
from _expressions_corpus import field_values
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import ExpressionError
from engine.expressions import evaluate_when, substitute


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the corpus shapes, after substitution
        ("heads == heads", True),
        ("tails == heads", False),
        ("Failed == Failed", True),
        ("Succeeded != Succeeded", False),
        ("even == even", True),
        ("YES == YES", True),
        ("true == true", True),
        ("false", False),
        ("true", True),
        ("3 < 10", True),
        ("10 < 9", False),  # numeric, not lexicographic
        ("5 != 1 && 5 != 2", True),
        ("1 != 1 && 1 != 2", False),
        ("heads =~ hea", True),
        ("tails =~ hea", False),
        ("heads !~ hea", False),
        (
            "( tails == heads &&\n tails == tails\n) ||\n( tails == tails &&\n tails == tails )",
            True,
        ),
        # literals
        ("-5 < -3", True),
        ("1.5 > 1", True),
        ("5 == 5.0", True),
        ("0x10 == 16", True),
        ("'a b' == \"a b\"", True),
        ("'it\\'s' == \"it's\"", True),
        ("[my-value] == 'my-value'", True),
        ("Failed == 'Failed'", True),
        ("steps.a.status == steps.a.status", True),
        ("abc < abd", True),  # strings order lexicographically
        # arithmetic and precedence
        ("2 + 3 * 4 == 14", True),
        ("(2 + 3) * 4 == 20", True),
        ("2 ** 3 == 8", True),
        ("2 ** 3 ** 2 == 512", True),
        ("7 % 4 == 3", True),
        ("10 / 4 == 2.5", True),
        ("1 / 0 > 1000", True),
        ("a + b == ab", True),
        ("1 + x == '1x'", True),
        ("2.5 + x == '2.5x'", True),
        ("2.0 + x == '2x'", True),  # Go prints 2.0 as 2
        ("- 2 < 0", True),
        # logic
        ("!false", True),
        ("!(1 < 2) || 3 > 2", True),
        ("true || false && false", True),
        ("false && (1 < x)", False),  # short-circuits past the type error
        ("true || (1 < x)", True),
        ("1 < 2 == true", True),
        # membership and ternary
        ("b in (a, b, c)", True),
        ("d in (a, b)", False),
        ("2 in (1, 2)", True),
        ("'2' in (1, 2)", False),
        ("x IN (x)", True),
        ("(1 < 2 ? yes : no) == yes", True),
        ('5 == "5"', False),
        ('5 != "5"', True),
        ("", True),
        ("   ", True),
    ],
)
def test_evaluates(text: str, expected: bool) -> None:
    assert evaluate_when(text) is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("heads", r"when must evaluate to true or false, got 'heads'"),
        ("5", r"when must evaluate to true or false, got 5"),
        ("1 + 2", r"when must evaluate to true or false, got 3"),
        ("5 < abc", r"cannot compare 5 < 'abc': both sides must be numbers or both strings"),
        ("my-value == my-value", r"'my' cannot be used with '-'.*must be quoted.*offset 2"),
        ("hello world == x", r"unexpected 'world' \(two values in a row;.*quoted.*offset 6"),
        ("a == b)", r"unexpected '\)'.*offset 6"),
        ("(a == b", r"expected '\)' to close offset 0, found the end"),
        ("a = b", r"invalid token '='.*offset 2"),
        ("'abc == abc", r"unclosed string"),
        ("1 && true", r"1 cannot be used with '&&': it is not a boolean"),
        ("!heads", r"'heads' cannot be used with '!'"),
        ("-heads < 1", r"cannot negate 'heads'"),
        ("a =~ '['", r"invalid regular expression '\['"),
        ("2024-01-01T00:00:00Z == x", r"invalid token '01T'.*quoted"),
        ("1.2.3 == x", r"invalid number '1.2.3'"),
        ("a == ", r"expected a value, found the end of the condition"),
        ("a & b", r"invalid token '&'"),
        ("{{steps.x.outputs.result}} == heads", r"invalid token '\{'"),
        ("true ? a", r"expected ':'"),
        ("(a, b)", r"when must evaluate to true or false, got \[a b\]"),
    ],
)
def test_errors(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        evaluate_when(text)


# Plausible values for the `{{...}}` references the corpus uses in `when`.
_PLAUSIBLE = {
    "steps.iterate-counter.outputs.result": ["3", "10"],
    "inputs.parameters.limit": ["10"],
    "inputs.parameters.num": ["1", "5"],
    "inputs.parameters.num-1": ["2", "4"],
    "item.evenness": ["even", "odd"],
    "steps.approval.outputs.parameters.approve": ["YES", "NO"],
}
_EXPRESSION_ENV = {
    "inputs": {"parameters": {"should-print": "true"}},
    "workflow": {"parameters": {"json": '[{"name": "should-print", "value": "false"}]'}},
    "cronworkflow": {"lastScheduledTime": None},
}


def _plausible(name: str) -> list[str]:
    if name in _PLAUSIBLE:
        return _PLAUSIBLE[name]
    if name.endswith("status") or name == "status":
        return ["Succeeded", "Failed", "Error"]
    return ["heads", "tails"]


def test_every_corpus_when_evaluates_after_plausible_substitution() -> None:
    values = field_values("when")
    assert len(values) > 30
    for where, text in values:
        for variant in range(3):
            substituted = substitute(
                text,
                lambda name: _plausible(name)[min(variant, len(_plausible(name)) - 1)],
                expression_env=lambda: _EXPRESSION_ENV,
            )
            assert isinstance(evaluate_when(substituted), bool), (where, substituted)


def test_corpus_when_outcomes() -> None:
    results = {}
    for text in ("5 != 1 && 5 != 2", "3 < 10", "10 < 10", "tails =~ tai"):
        results[text] = evaluate_when(text)
    assert results == {
        "5 != 1 && 5 != 2": True,
        "3 < 10": True,
        "10 < 10": False,
        "tails =~ tai": True,
    }


@given(a=st.integers(-(10**6), 10**6), b=st.integers(-(10**6), 10**6))
def test_numbers_compare_numerically(a: int, b: int) -> None:
    for op, expected in (
        ("<", a < b),
        ("<=", a <= b),
        (">", a > b),
        (">=", a >= b),
        ("==", a == b),
        ("!=", a != b),
    ):
        assert evaluate_when(f"{a} {op} {b}") is expected


@given(word=st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,10}", fullmatch=True))
def test_bare_words_are_strings(word: str) -> None:
    if word in ("true", "false", "in", "IN"):
        return
    assert evaluate_when(f"{word} == {word}") is True
    assert evaluate_when(f"{word} == '{word}'") is True
    assert evaluate_when(f"{word} != {word}x") is True


def test_combinations_of_coinflip_results() -> None:
    complex_when = "( {a} == heads && {b} == tails ) || ( {a} == tails && {b} == tails )"
    for a, b in itertools.product(["heads", "tails"], repeat=2):
        expected = (a, b) in (("heads", "tails"), ("tails", "tails"))
        assert evaluate_when(complex_when.format(a=a, b=b)) is expected
