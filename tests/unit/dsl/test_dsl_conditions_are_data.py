"""`dsl.If` conditions read values as variables, numbers included: no value rewrites a condition.

A numeric comparison used to paste the value into govaluate's text (`{{n}} > 5`), so a value
such as `0 == 0 || 1` turned the condition into `0 == 0 || 1 > 5`, which is true. Now it is
`{{=asFloat(n) > 5}}`: such a value is not a number, and the task ends in Error saying so.
"""

from __future__ import annotations

from pathlib import Path

from dsl_support import run_pipeline

import dsl


@dsl.component
def echo(text: str) -> str:
    return text


@dsl.pipeline(name="numbers")
def numbers(n: int = 1) -> None:
    with dsl.If(n > 5):
        echo(text="big").set_display_name("big")


def test_a_number_is_compared_as_a_number(tmp_path: Path) -> None:
    assert run_pipeline(numbers, tmp_path / "seven", {"n": 7}).phases()["big"] == "Succeeded"
    assert run_pipeline(numbers, tmp_path / "one", {"n": 1}).phases()["big"] == "Skipped"


def test_a_value_cannot_rewrite_a_numeric_condition(tmp_path: Path) -> None:
    ran = run_pipeline(numbers, tmp_path, {"n": "0 == 0 || 1"})
    big = ran.node("big")
    assert big["phase"] == "Error", big
    assert "invalid when" in big["message"] and "0 == 0 || 1" in big["message"]
