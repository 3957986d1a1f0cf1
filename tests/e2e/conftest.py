"""End-to-end tests drive the real `kubepipe` CLI (in-process via click) against a temp home."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from engine.cli import main


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KUBEPIPE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KUBEPIPE_DB_URL", raising=False)
    monkeypatch.delenv("KUBEPIPE_ARTIFACT_ROOT", raising=False)
    return tmp_path / "home"


@pytest.fixture
def cli(home: Path) -> Callable[..., Result]:
    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def run_json(cli: Callable[..., Result]) -> Callable[..., tuple[int, dict[str, Any]]]:
    def run(path: str | Path, *params: str) -> tuple[int, dict[str, Any]]:
        args = ["run", str(path), "-o", "json"]
        for p in params:
            args += ["-p", p]
        result = cli(*args)
        assert result.stdout.strip(), result.output
        return result.exit_code, json.loads(result.stdout)

    return run
