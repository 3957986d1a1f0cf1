"""Typed values survive function -> YAML -> run -> output unchanged (hypothesis).

One run per example is ~0.3 s, so each property packs many values into one pipeline run: the
values go in as pipeline arguments (the CLI's `-p` path) and as compiled-in constants, pass
through a component, and come back as typed pipeline outputs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from dsl_support import run_pipeline
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import dsl


@dsl.component
def echo(s: str, i: int, f: float, b: bool, items: list, mapping: dict) -> NamedTuple(
    "Echo", [("s", str), ("i", int), ("f", float), ("b", bool), ("items", list), ("mapping", dict)]
):
    from collections import namedtuple

    return namedtuple("Echo", ["s", "i", "f", "b", "items", "mapping"])(s, i, f, b, items, mapping)


@dsl.pipeline(name="roundtrip")
def roundtrip(s: str = "", i: int = 0, f: float = 0.0, b: bool = False, items: list = [],  # noqa: B006
              mapping: dict = {}) -> NamedTuple(  # noqa: B006
    "Out", [("s", str), ("i", int), ("f", float), ("b", bool), ("items", list), ("mapping", dict)]
):
    e = echo(s=s, i=i, f=f, b=b, items=items, mapping=mapping)
    from collections import namedtuple

    return namedtuple("Out", ["s", "i", "f", "b", "items", "mapping"])(*(e.outputs[k] for k in ("s", "i", "f", "b", "items", "mapping")))


# Text Argo can carry in a parameter: no NUL, no lone surrogates; `{{` would be read as a tag.
text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30
).filter(lambda t: "{{" not in t)
floats = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([1e-300, -0.0, 1e300])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | floats | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    s=text,
    i=st.integers(-(2**80), 2**80),
    f=floats,
    b=st.booleans(),
    items=st.lists(json_values, max_size=4),
    mapping=st.dictionaries(text, json_values, max_size=3),
)
@example(s="ends in a newline\n", i=2**64, f=1e-300, b=True, items=[[], {}], mapping={"": None})
def test_values_round_trip(tmp_path_factory: pytest.TempPathFactory, s: str, i: int, f: float, b: bool,
                           items: list[Any], mapping: dict[str, Any]) -> None:
    ran = run_pipeline(
        roundtrip, tmp_path_factory.mktemp("rt"),
        {"s": s, "i": i, "f": f, "b": b, "items": items, "mapping": mapping},
    )
    assert ran.phase == "Succeeded", ran.run["message"]
    out = ran.outputs
    assert out["s"] == s and out["i"] == i and out["b"] == b
    assert out["f"] == f and math.copysign(1, out["f"]) == math.copysign(1, f)
    assert out["items"] == items and out["mapping"] == mapping


def test_unicode_and_empty_strings_as_constants(tmp_path: Path) -> None:
    @dsl.pipeline(name="constants")
    def constants() -> str:
        return echo(s="héllo ☃ \n 'quoted' \"double\"", i=2**64, f=1e-300, b=True,
                    items=[[1, [2]], {"a": None}], mapping={"": ""}).outputs["s"]

    ran = run_pipeline(constants, tmp_path)
    assert ran.outputs == {"Output": "héllo ☃ \n 'quoted' \"double\""}
