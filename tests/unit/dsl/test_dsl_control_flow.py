"""Control flow that needs care in the compiled YAML: quoting in `when`, typed fan-in, OneOf."""

from __future__ import annotations

from pathlib import Path
from typing import List

from dsl_support import run_pipeline

import dsl


@dsl.component
def echo(text: str) -> str:
    return text


TRICKY = 'it\'s "quoted" \\ back\\slash'


def test_string_conditions_with_quotes_and_backslashes(tmp_path: Path) -> None:
    @dsl.pipeline(name="quotes")
    def quotes(word: str = TRICKY) -> None:
        said = echo(text=word)
        with dsl.If(said.output == TRICKY):
            echo(text="same").set_display_name("same")
        with dsl.Else():
            echo(text="other").set_display_name("other")
        with dsl.If(word != "it's"):
            echo(text="differs").set_display_name("differs")
        with dsl.If(said.output == "it's"):
            echo(text="prefix").set_display_name("prefix")

    ran = run_pipeline(quotes, tmp_path)
    assert ran.phase == "Succeeded", ran.run["message"]
    phases = ran.phases()
    assert (phases["same"], phases["other"]) == ("Succeeded", "Skipped")
    assert (phases["differs"], phases["prefix"]) == ("Succeeded", "Skipped")
    again = run_pipeline(quotes, tmp_path / "again", {"word": "it's"})
    phases = again.phases()
    assert (phases["same"], phases["other"], phases["differs"], phases["prefix"]) == (
        "Skipped",
        "Succeeded",
        "Skipped",
        "Succeeded",
    )


@dsl.component
def joined(values: List[str]) -> str:
    assert all(isinstance(v, str) for v in values), values
    return "|".join(values)


def test_collected_strings_stay_strings(tmp_path: Path) -> None:
    """Every value looks like JSON, so Argo's fan-in would decode each of them."""

    @dsl.pipeline(name="collected-strings")
    def collected_strings() -> str:
        with dsl.ParallelFor(["1", "2.0", "true", "null", '"q"']) as word:
            said = echo(text=word)
        return joined(values=dsl.Collected(said.output)).output

    ran = run_pipeline(collected_strings, tmp_path)
    assert ran.phase == "Succeeded", ran.run["message"]
    assert ran.outputs == {"Output": '1|2.0|true|null|"q"'}


def test_one_of_picks_the_else_branch(tmp_path: Path) -> None:
    from test_dsl_examples import load

    ran = run_pipeline(load("dsl_one_of").one_of, tmp_path, {"n": 1})
    assert ran.outputs == {"Output": "small"}, ran.run["message"]
    assert ran.node("shout")["outputs"]["parameters"]["Output"] == "SMALL!"
