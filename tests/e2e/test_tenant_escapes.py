"""Issue 12's escapes, tried from inside a step of a real run, with the engine's settings.

The engine runs in this process (the CLI in-process), so its pid is ours: before the sandbox a
step read the engine's home (database, other runs' artifacts and logs) through
`/proc/<engine pid>/root/...`, wrote into it, and read the engine's environment. The engine's
home here sits under /opt, which the step's view shows (a runtime tree), so what hides it is the
runner's hidden paths built from the settings, not luck.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from e2e_support import EXAMPLES, by_name
from engine.cli import main
from engine.runners._launch import Launcher, default_passthrough

ESCAPE = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: escape-}
spec:
  entrypoint: try
  arguments:
    parameters: [{name: engine}, {name: home}]
  templates:
  - name: try
    inputs:
      parameters: [{name: engine}, {name: home}]
    script:
      image: alpine:3.20
      command: [sh]
      source: |
        E={{inputs.parameters.engine}}; H={{inputs.parameters.home}}
        ls /proc/$E/root$H 2>/dev/null && echo LEAK-ENGINE-ROOT
        cat /proc/$E/environ 2>/dev/null | grep -q KUBEPIPE && echo LEAK-ENVIRON
        cat $H/kubepipe.db 2>/dev/null | head -c 16 | grep -q SQLite && echo LEAK-DB
        grep -rl team-b-secret $H 2>/dev/null && echo LEAK-ARTIFACT
        echo owned > $H/owned 2>/dev/null && echo LEAK-WRITE
        kill -0 $E 2>/dev/null && echo LEAK-SIGNAL
        echo "uid: $(id -u)"
        echo tried
"""

SECRET = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: team-b-}
spec:
  entrypoint: keep
  templates:
  - name: keep
    container:
      image: alpine:3.20
      command: [sh, -c, "echo team-b-secret > /tmp/model.txt; echo team-b-secret"]
    outputs:
      artifacts: [{name: model, path: /tmp/model.txt}]
"""


def _overlay_or_skip() -> None:
    with __import__("tempfile").TemporaryDirectory() as scratch:
        reason = Launcher({}, default_passthrough()).probe_overlay(Path(scratch) / "p")
    if reason:
        pytest.skip(f"the tenant sandbox needs overlay isolation: {reason}")


@pytest.fixture
def shared_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An engine home under /opt, configured as `kubepipe up --auth` configures its engine."""
    _overlay_or_skip()
    home = Path("/opt") / f"kubepipe-e2e-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("KUBEPIPE_HOME", str(home))
    monkeypatch.setenv("KUBEPIPE_ISOLATION", "overlay")
    monkeypatch.setenv("KUBEPIPE_ALLOW_ROOT_STEPS", "false")
    monkeypatch.setenv("KUBEPIPE_ALLOWED_HOST_PATHS", "[]")
    monkeypatch.delenv("KUBEPIPE_DB_URL", raising=False)
    monkeypatch.delenv("KUBEPIPE_ARTIFACT_ROOT", raising=False)
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _run(path: Path, *params: str) -> dict:
    args = ["run", str(path), "-o", "json"]
    for p in params:
        args += ["-p", p]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.stdout.strip(), result.output
    return json.loads(result.stdout)


def test_a_step_cannot_reach_the_engine_or_another_runs_files(
    shared_home: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.yaml"
    secret.write_text(SECRET)
    assert _run(secret)["phase"] == "Succeeded"
    assert any(shared_home.rglob("*")), "team-b's run left nothing in the home to protect"
    escape = tmp_path / "escape.yaml"
    escape.write_text(ESCAPE)
    run = _run(escape, f"engine={os.getpid()}", f"home={shared_home}")
    (step,) = [n for n in run["nodes"] if n["type"] == "Pod"]
    out = step["outputs"]["result"]
    assert run["phase"] == "Succeeded" and out.endswith("tried"), out
    assert "LEAK" not in out, out
    assert not (shared_home / "owned").exists()
    assert "uid: 0" not in out.splitlines(), "the step ran as the host's root"


@pytest.mark.parametrize(
    ("example", "params"),
    [("hello-world.yaml", ()), ("k8s-job.yaml", ()), ("dsl_primitives.py", ("x=5",)),
     ("katib-experiment.yaml", ())],
)
def test_ordinary_dsl_resource_and_katib_steps_work_in_the_sandbox(
    shared_home: Path, example: str, params: tuple[str, ...]
) -> None:
    run = _run(EXAMPLES / example, *params)
    assert run["phase"] == "Succeeded", [
        (n["displayName"], n.get("message")) for n in run["nodes"] if n.get("message")
    ]
    assert by_name(run)
