"""`kubepipe delete` and retention: runs go with their rows, logs and artifacts, except reused ones."""

from __future__ import annotations

import json
from pathlib import Path

from e2e_support import EXAMPLES, by_name
from test_caching import WF


def test_delete_removes_the_run_its_logs_and_artifacts(cli, run_json, home: Path) -> None:
    _, run = run_json(EXAMPLES / "artifact-passing.yaml")
    assert (home / "artifacts" / run["id"]).is_dir()
    result = cli("delete", run["id"])
    assert result.exit_code == 0, result.output
    assert f"deleted run {run['id']}" in result.stdout
    assert not (home / "artifacts" / run["id"]).exists()
    assert cli("get", run["id"]).exit_code == 1
    assert json.loads(cli("list", "-o", "json").stdout) == []


def test_artifacts_reused_by_a_kept_run_survive(cli, run_json, tmp_path: Path, home: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(WF)
    _, producer = run_json(path)
    _, consumer = run_json(path)
    reused = by_name(consumer)["make"]
    assert reused["cached"] is True
    result = cli("delete", producer["id"])
    assert result.exit_code == 0 and "kept 1 reused by other runs" in result.stdout
    uri = reused["outputs"]["artifacts"]["data"]["uri"]
    assert Path(uri.removeprefix("file://")).is_file(), (
        "the kept run's cached output must still resolve"
    )


def test_keep_last_and_bad_input(cli, run_json) -> None:
    ids = [run_json(EXAMPLES / "hello-world.yaml")[1]["id"] for _ in range(3)]
    result = cli("delete", "--keep-last", "1")
    assert result.exit_code == 0, result.output
    assert [r["id"] for r in json.loads(cli("list", "-o", "json").stdout)] == [ids[-1]]
    assert cli("delete").exit_code == 2
    bad = cli("delete", "--older-than", "soon")
    assert bad.exit_code == 2 and "--older-than 'soon' is not a duration" in bad.stderr
    missing = cli("delete", "nope")
    assert missing.exit_code == 1 and "no run with id or name 'nope'" in missing.stderr


def test_the_engine_worker_applies_the_retention_setting(cli, run_json, monkeypatch) -> None:
    ids = [run_json(EXAMPLES / "hello-world.yaml")[1]["id"] for _ in range(3)]
    monkeypatch.setenv("KUBEPIPE_RETENTION_KEEP_LAST", "2")
    assert cli("engine", "--until-idle").exit_code == 0
    assert [r["id"] for r in json.loads(cli("list", "-o", "json").stdout)] == ids[:0:-1]
