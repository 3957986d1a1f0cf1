"""successCondition / failureCondition: Kubernetes selector grammar over gjson paths, as Argo reads them."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.controllers.conditions import ConditionError, gjson_get, parse_condition

JOB: dict[str, Any] = {
    "metadata": {"name": "pi-x7k2p", "labels": {"team": "ml"}},
    "spec": {"backoffLimit": 6, "parallel": True},
    "status": {
        "phase": "Succeeded",
        "succeeded": 1,
        "failed": 10,
        "ratio": 2.0,
        "half": 0.5,
        "nothing": None,
        "conditions": [{"type": "Complete", "status": "True"}],
    },
}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("status.succeeded > 0", True),
        ("status.succeeded > 1", False),
        ("status.succeeded < 2", True),
        ("status.failed > 3", True),
        ("status.failed > 9", True),  # numeric: 10 > 9, though "10" < "9" as text
        ("status.failed < 9", False),
        ("status.failed > 10", False),
        ("status.phase == Succeeded", True),
        ("status.phase = Succeeded", True),
        ("status.phase == Failed", False),
        ("status.phase != Failed", True),
        ("status.phase != Succeeded", False),
        ("status.phase in (Failed, Error)", False),
        ("status.phase in (Failed,Succeeded)", True),
        ("status.phase notin (Failed, Error)", True),
        ("status.phase notin (Succeeded)", False),
        ("metadata.name", True),  # existence
        ("metadata.name == pi-x7k2p", True),
        ("!metadata.name", False),
        ("!status.missing", True),
        ("status.conditions.0.type == Complete", True),  # gjson: numeric segments index arrays
        ("status.conditions.1.type == Complete", False),
        ("status.conditions.# == 1", None),  # '#' is not a label-key character: does not parse
        ("spec.parallel == true", True),  # booleans read as true/false
        ("status.ratio == 2", True),  # gjson prints 2.0 as 2
        ("status.ratio > 1", True),
        ("status.half > 0", False),  # not an integer: never compares
        ("status.nothing", True),  # a JSON null exists ...
        ("status.nothing == ", True),  # ... and reads as ""
        ("status.succeeded > 0, status.phase == Succeeded", True),  # AND
        ("status.succeeded > 0, status.phase == Failed", False),
        ("metadata.labels.team in (ml, data), !status.missing", True),
        # a path that selects nothing: false, except for the negative operators (as k8s labels)
        ("status.missing > 0", False),
        ("status.missing < 1", False),
        ("status.missing == x", False),
        ("status.missing in (x)", False),
        ("status.missing", False),
        ("status.missing != x", True),
        ("status.missing notin (x)", True),
        ("nope.deeper.still == x", False),
        ("status.phase.deeper == x", False),  # a path through a string
    ],
)
def test_condition_table(condition: str, expected: bool | None) -> None:
    if expected is None:
        with pytest.raises(ConditionError):
            parse_condition(condition)
        return
    assert parse_condition(condition).all_match(JOB) is expected


def test_failure_condition_is_any_requirement_success_is_all() -> None:
    selector = parse_condition("status.failed > 100, status.phase == Succeeded")
    assert not selector.all_match(JOB)
    matched = selector.first_match(JOB)
    assert matched is not None and str(matched) == "status.phase==Succeeded"
    assert parse_condition("status.failed > 100, status.phase == Failed").first_match(JOB) is None


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("status.failed > x", "must be an integer"),
        ("status.failed > 1.5", "must be an integer"),
        ("status.failed >", "must be an integer"),
        ("status.phase === x", "identifier"),
        ("status.phase ~ x", "expected"),
        ("status.phase in Failed", "'('"),
        ("status.phase in (Failed", "',' or ')'"),
        ("status.phase == has space", "',' or 'end of string'"),
        ("status.succeeded > 0,", "identifier"),
        (", status.succeeded > 0", "identifier"),
        ("!status.phase == x", "after '!key'"),
        ("status.phase == -bad", "invalid value"),
        ("a" * 64, "at most 63"),
        ("Status/Phase", "lowercase DNS subdomain"),
    ],
)
def test_bad_conditions_name_the_problem(condition: str, message: str) -> None:
    with pytest.raises(ConditionError, match="does not parse") as info:
        parse_condition(condition)
    assert message in str(info.value)
    assert repr(condition) in str(info.value)


def test_empty_condition_matches_everything() -> None:
    assert parse_condition("").all_match({})
    assert parse_condition("   ").requirements == ()


def test_gjson_reads_like_gjson() -> None:
    assert gjson_get(JOB, "status.succeeded") == (True, "1")
    assert gjson_get(JOB, "status.conditions.0") == (True, '{"type":"Complete","status":"True"}')
    assert gjson_get(JOB, "status.conditions.#") == (True, "1")
    assert gjson_get(JOB, "status.nothing") == (True, "")
    assert gjson_get(JOB, "status.gone") == (False, "")
    assert gjson_get({"x": 1e21}, "x") == (True, "1000000000000000000000")


@given(
    value=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    bound=st.integers(min_value=0, max_value=2**63 - 1),
    as_float=st.booleans(),
)
def test_numbers_compare_numerically(value: int, bound: int, as_float: bool) -> None:
    obj: dict[str, Any] = {"status": {"n": value}}
    if as_float and abs(value) < 2**53:
        obj["status"]["n"] = float(value)  # an integral float reads like the integer
    assert parse_condition(f"status.n > {bound}").all_match(obj) is (value > bound)
    assert parse_condition(f"status.n < {bound}").all_match(obj) is (value < bound)
    if value >= 0:  # a label value cannot start with '-'
        assert parse_condition(f"status.n == {value}").all_match(obj) is True


@given(st.integers(min_value=2**63, max_value=2**80))
def test_numbers_beyond_int64_never_compare(value: int) -> None:
    assert not parse_condition("status.n > 0").all_match({"status": {"n": value}})
    assert not parse_condition("status.n < 0").all_match({"status": {"n": value}})
