"""YAML the loader will not take is a located SpecError: nesting past its depth limit (the issue's
5,000 nested flow sequences were a RecursionError in `kubepipe validate`/`run` and the server
alike) and lone-surrogate escapes (no text; they failed later, in the database)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.errors import SpecError
from engine.loader import MAX_YAML_DEPTH, YamlTooDeep, compose_bounded, load_manifest

HELLO = Path(__file__).resolve().parents[3] / "examples" / "hello-world.yaml"


@pytest.mark.parametrize(
    "text",
    [
        "[" * 5000 + "]" * 5000,
        "{a: " * 3000 + "1" + "}" * 3000,
        "".join(f"{'  ' * i}a:\n" for i in range(400)),
        HELLO.read_text() + "  x: " + "[" * 2000 + "]" * 2000 + "\n",
    ],
)
def test_deep_yaml_is_a_spec_error_with_its_line(text: str) -> None:
    with pytest.raises(SpecError) as err:
        load_manifest(text if "\n" in text else text + "\n")
    [problem] = err.value.problems
    assert f"nests deeper than {MAX_YAML_DEPTH} levels" in problem.message
    assert problem.line is not None and problem.hint


def test_the_limit_is_exact() -> None:
    def nested(levels: int) -> str:  # `levels` nodes on the deepest path, the scalar included
        return "[" * (levels - 1) + "1" + "]" * (levels - 1)

    assert compose_bounded(nested(MAX_YAML_DEPTH))
    with pytest.raises(YamlTooDeep):
        compose_bounded(nested(MAX_YAML_DEPTH + 1))
    assert compose_bounded(nested(6), max_depth=6)
    with pytest.raises(YamlTooDeep):
        compose_bounded(nested(7), max_depth=6)


def test_kubepipe_validate_refuses_deep_yaml(tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("[" * 5000 + "]" * 5000 + "\n")
    result = CliRunner().invoke(main, ["validate", str(deep)])
    assert result.exit_code == 2, result.output
    assert f"deep.yaml:1:{MAX_YAML_DEPTH + 1}: the YAML nests deeper than" in result.output


def test_a_lone_surrogate_escape_is_a_spec_error() -> None:
    text = HELLO.read_text().replace("generateName: hello-world-", 'generateName: "h-\\uD800-"')
    with pytest.raises(SpecError) as err:
        load_manifest(text)
    [problem] = err.value.problems
    assert "lone surrogate" in problem.message and problem.line == 6
    pair = HELLO.read_text().replace("generateName: hello-world-", 'generateName: "h-\\U0001F600-"')
    assert load_manifest(pair)[0].metadata.generate_name == "h-\U0001f600-"
