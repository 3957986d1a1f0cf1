"""One duration parser, range-checked: every duration a manifest, a flag or the API gives is at
most MAX_DURATION_SECONDS, so none overflows a timer, a datetime or a BIGINT later (the issue's
`99999999999999999999d` was a 500 through the API)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from engine.cli import main
from engine.loader import load_manifest
from engine.spec import Workflow
from engine.validate import validate_workflow
from engine.values import MAX_DURATION_SECONDS, DurationOutOfRange, parse_duration

HELLO = Path(__file__).resolve().parents[3] / "examples" / "hello-world.yaml"


@pytest.mark.parametrize(
    "value",
    ["99999999999999999999d", "1e999", "inf", "-inf", "nan", 10**400, float("inf"), "36501d"],
)
def test_out_of_range_durations_are_refused(value: object) -> None:
    with pytest.raises(DurationOutOfRange):
        parse_duration(value, field="timeout")  # type: ignore[arg-type]


@given(st.integers(min_value=-MAX_DURATION_SECONDS, max_value=MAX_DURATION_SECONDS))
def test_durations_in_range_read_back(seconds: int) -> None:
    assert parse_duration(str(seconds)) == seconds
    assert parse_duration(seconds) == seconds


def _workflow(extra: str) -> Workflow:
    text = HELLO.read_text().replace("  entrypoint: hello\n", f"  entrypoint: hello\n{extra}")
    manifest, _, _ = load_manifest(text)
    assert isinstance(manifest, Workflow)
    return manifest


@pytest.mark.parametrize(
    ("extra", "path"),
    [
        ("  activeDeadlineSeconds: 99999999999999999999d\n", "spec.activeDeadlineSeconds"),
        ("  activeDeadlineSeconds: soon\n", "spec.activeDeadlineSeconds"),
        (
            "  retryStrategy: {limit: 2, backoff: {duration: 1e999}}\n",
            "spec.retryStrategy.backoff.duration",
        ),
        (
            "  templates:\n    - name: hello\n      timeout: 36501d\n"
            "      container: {image: busybox, command: [echo, hi]}\n",
            "spec.templates[0].timeout",
        ),
    ],
)
def test_the_validator_names_a_bad_duration(extra: str, path: str) -> None:
    if "templates:" in extra:
        text = HELLO.read_text()
        text = text[: text.index("  templates:")] + extra
        manifest, _, _ = load_manifest(text)
        assert isinstance(manifest, Workflow)
        workflow = manifest
    else:
        workflow = _workflow(extra)
    problems = validate_workflow(workflow)
    assert [p.path for p in problems] == [path], problems
    assert "duration" in problems[0].message


def test_templated_and_ordinary_durations_pass() -> None:
    assert validate_workflow(_workflow("  activeDeadlineSeconds: 36500d\n")) == []
    templated = '  activeDeadlineSeconds: "{{workflow.parameters.t}}"\n'
    assert validate_workflow(_workflow(templated)) == []


def test_older_than_out_of_range_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBEPIPE_HOME", str(tmp_path))
    result = CliRunner().invoke(main, ["delete", "--older-than", "99999999999999999999d"])
    assert result.exit_code == 2, result.output
    assert "out of range" in result.output
