"""End-to-end tests drive the real `kubepipe` CLI (in-process via click) against a temp home."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
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


@pytest.fixture
def ledger_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A host directory that steps append to, for tests that count what ran.

    Outside /tmp, and with path-mapped steps (`KUBEPIPE_ISOLATION=pathmap`, set for this process
    and the processes it starts): a path-mapped step's /tmp is its own, the ledger the host's.
    """
    if not os.path.isdir("/dev/shm"):
        pytest.skip("needs /dev/shm for a host ledger that steps can append to")
    monkeypatch.setenv("KUBEPIPE_ISOLATION", "pathmap")
    with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="kubepipe-ledger-") as path:
        yield Path(path)
