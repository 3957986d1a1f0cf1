"""Argo `depends` grammar: parsing, evaluation, errors, corpus coverage and a formula property."""

from __future__ import annotations

import random
from typing import Any

import pytest
from _expressions_corpus import dependency_lists, field_values
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import ExpressionError
from engine.expressions import (
    DependsExpr,
    TaskResult,
    dependencies_to_depends,
    parse_depends,
)

# Outcomes of the tasks in the table below. A bare name is "succeeded, skipped or daemoned".
OUTCOMES = {"A": "Succeeded", "B": "Failed", "C": "Succeeded", "skip-me": "Skipped",
            "err_1": "Errored", "D": "Omitted"}  # fmt: skip


def resolve(task: str, result: TaskResult | None) -> bool:
    outcome = OUTCOMES[task]
    if result is None:
        return outcome in ("Succeeded", "Skipped", "Daemoned")
    return outcome == result.value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A", True),
        ("B", False),
        ("A && C", True),
        ("A && B", False),
        ("B || C", True),
        ("B.Failed && C", True),
        ("A && (C.Succeeded || C.Failed)", True),
        ("skip-me", True),
        ("skip-me.Skipped && !skip-me.Succeeded", True),
        ("err_1.Errored", True),
        ("D.Omitted || B", True),
        ("!A", False),
        ("!!A", True),
        ("! ( A && B )", True),
        ("A || B && C.Failed", True),  # && binds tighter than ||
        ("(A || B) && C.Failed", False),
        ("B || B.Succeeded || A.Failed", False),
        ("   A&&C   ", True),
        ("!A || C", True),  # ! binds tighter than ||
        ("!(A || B)", False),
    ],
)
def test_evaluates(text: str, expected: bool) -> None:
    assert parse_depends(text).evaluate(resolve) is expected


def test_bare_operand_is_handed_to_the_engine_unexpanded() -> None:
    asked: list[tuple[str, TaskResult | None]] = []

    def record(task: str, result: TaskResult | None) -> bool:
        asked.append((task, result))
        return True

    parse_depends("A && B.Failed").evaluate(record)
    assert asked == [("A", None), ("B", TaskResult.FAILED)]


def test_operands_and_task_names() -> None:
    expr = parse_depends("A && (C.Succeeded || C.Failed) && !A")
    assert expr.operands() == [("A", None), ("C", TaskResult.SUCCEEDED), ("C", TaskResult.FAILED)]
    assert expr.task_names() == frozenset({"A", "C"})
    assert expr.text == "A && (C.Succeeded || C.Failed) && !A"


def test_every_result_suffix_parses() -> None:
    for result in TaskResult:
        assert parse_depends(f"fan-out.{result}").operands() == [("fan-out", result)]
        assert str(result) == result.value


def test_parses_are_cached_and_hashable() -> None:
    first = parse_depends("A && B")
    assert parse_depends("A && B") is first
    assert first == DependsExpr("A && B", first._tree)
    assert len({first, parse_depends("A && B")}) == 1


def test_long_chains_do_not_recurse() -> None:
    names = [f"t{i}" for i in range(3000)]
    expr = parse_depends(" && ".join(names))
    assert expr.evaluate(lambda task, result: True) is True
    assert len(expr.task_names()) == 3000


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"empty"),
        ("   ", r"empty"),
        (
            "A.Suceeded",
            r"unknown task result 'Suceeded'.*did you mean A\.Succeeded.*"
            r"valid results are Succeeded, Failed, Errored, Skipped, Omitted, "
            r"Daemoned, AnySucceeded, AllFailed.*offset 2",
        ),
        ("A.succeeded", r"unknown task result 'succeeded'"),
        ("A.", r"missing result after 'A\.'"),
        ("1task", r"'1task' starts with a digit.*offset 0"),
        ("A && 2b.Failed", r"'2b' starts with a digit.*offset 5"),
        ("A &&", r"expected a task name or '\(' but found the end.*offset 4"),
        ("A & B", r"'&' is not an operator; use '&&'.*offset 2"),
        ("A | B", r"use '\|\|'"),
        ("(A || B", r"'\(' at offset 0 is never closed"),
        ("A)", r"'\)' without a matching '\('.*offset 1"),
        ("A B", r"unexpected 'B' after a complete expression.*offset 2"),
        ("A == B", r"unexpected character '='.*offset 2"),
        ("&& A", r"expected a task name.*found '&&'.*offset 0"),
        ("()", r"found '\)'.*offset 1"),
        (".Failed", r"unexpected character '\.'.*offset 0"),
    ],
)
def test_errors(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        parse_depends(text)


def test_error_carries_position() -> None:
    with pytest.raises(ExpressionError) as caught:
        parse_depends("A && B.Bogus")
    assert caught.value.position == 7
    assert caught.value.expression == "A && B.Bogus"


@pytest.mark.parametrize(
    ("names", "expected"),
    [(["A"], "A"), (["A", "B"], "A && B"), (["a", "b-2", "c_3"], "a && b-2 && c_3"), ([], "")],
)
def test_dependencies_to_depends(names: list[str], expected: str) -> None:
    assert dependencies_to_depends(names) == expected


def test_dependencies_to_depends_rejects_a_bare_string() -> None:
    with pytest.raises(TypeError, match="list of task names"):
        dependencies_to_depends("AB")


def test_every_corpus_depends_parses() -> None:
    values = field_values("depends")
    assert len(values) > 50
    for where, text in values:
        expr = parse_depends(text)
        assert expr.task_names(), where
        assert isinstance(expr.evaluate(lambda task, result: True), bool), where


def test_every_corpus_dependencies_list_converts() -> None:
    lists = dependency_lists()
    assert lists
    for where, names in lists:
        assert parse_depends(dependencies_to_depends(names)).task_names() == set(names), where


# --- property: rendering a random formula and parsing it back preserves its meaning ---------

_NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,6}", fullmatch=True)
_OPERAND = st.tuples(st.just("operand"), _NAMES, st.sampled_from([None, *TaskResult]))
_TREES = st.recursive(
    _OPERAND,
    lambda kids: st.one_of(
        st.tuples(st.just("not"), kids),
        st.tuples(st.sampled_from(["and", "or"]), kids, kids),
    ),
    max_leaves=10,
)
_PRECEDENCE = {"or": 1, "and": 2, "not": 3, "operand": 4}


def _render(tree: Any, draw: Any) -> str:
    def space() -> str:
        return draw(st.sampled_from(["", " ", "  ", "\t", "\n"]))

    def sub(child: Any, needed: int) -> str:
        text = _render(child, draw)
        if _PRECEDENCE[child[0]] < needed or draw(st.booleans()):
            return f"({space()}{text}{space()})"
        return text

    kind = tree[0]
    if kind == "operand":
        _, task, result = tree
        return task if result is None else f"{task}.{result}"
    if kind == "not":
        return f"!{space()}{sub(tree[1], 3)}"
    op = "&&" if kind == "and" else "||"
    level = _PRECEDENCE[kind]
    return f"{sub(tree[1], level)}{space()}{op}{space()}{sub(tree[2], level)}"


def _truth(tree: Any, oracle: Any) -> bool:
    kind = tree[0]
    if kind == "operand":
        return oracle(tree[1], tree[2])
    if kind == "not":
        return not _truth(tree[1], oracle)
    left, right = _truth(tree[1], oracle), _truth(tree[2], oracle)
    return (left and right) if kind == "and" else (left or right)


def _names(tree: Any) -> set[str]:
    if tree[0] == "operand":
        return {tree[1]}
    return set().union(*(_names(child) for child in tree[1:]))


@settings(max_examples=200, deadline=None)
@given(tree=_TREES, seed=st.integers(0, 2**32), data=st.data())
def test_rendered_formula_evaluates_like_python(tree: Any, seed: int, data: Any) -> None:
    text = _render(tree, data.draw)

    def oracle(task: str, result: TaskResult | None) -> bool:
        return random.Random(f"{seed}:{task}:{result}").random() < 0.5

    expr = parse_depends(text)
    assert expr.evaluate(oracle) is _truth(tree, oracle)
    assert expr.task_names() == _names(tree)
