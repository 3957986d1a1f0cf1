"""The reproduction from issue 12: `ln -s /etc/shadow out`, with `out` an output artifact.

It was stored and served for download. Now the node ends in Error naming the output and why,
no artifact is recorded, and nothing in the artifact store holds the host file's bytes, with
steps in either isolation mode; a link inside an output directory is never followed either.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from e2e_support import by_name

from engine.runners._launch import Launcher, default_passthrough

SHADOW = Path("/etc/shadow")

WORKFLOW = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: links-}
spec:
  entrypoint: leak
  templates:
  - name: leak
    container:
      image: alpine
      command: [sh, -c, "ln -s /etc/shadow /tmp/out"]
    outputs:
      artifacts:
      - {name: out, path: /tmp/out}
"""


DIRECTORY = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: dir-links-}
spec:
  entrypoint: leak
  templates:
  - name: leak
    container:
      image: alpine
      command: [sh, -c, "mkdir /tmp/d && echo kept > /tmp/d/a && ln -s a /tmp/d/b &&
        ln -s /etc/shadow /tmp/d/c"]
    outputs:
      artifacts:
      - {name: tarred, path: /tmp/d}
      - {name: flat, path: /tmp/d, archive: {none: {}}}
"""


@pytest.fixture(params=["overlay", "pathmap"])
def mode(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Steps in this isolation mode; /etc/shadow readable, to show that it is not exported."""
    if not os.access(SHADOW, os.R_OK):
        pytest.skip("needs a readable /etc/shadow to show that it is not exported")
    if request.param == "overlay":
        reason = Launcher({}, default_passthrough()).probe_overlay(tmp_path / "probe")
        if reason:
            pytest.skip(reason)
    monkeypatch.setenv("KUBEPIPE_ISOLATION", request.param)
    return str(request.param)


def _nothing_holds_the_secret(home: Path) -> None:
    secret = SHADOW.read_bytes()
    for folder, _dirs, files in os.walk(home):
        for name in files:
            file = Path(folder) / name
            if not file.is_symlink() and file.stat().st_size == len(secret):
                assert file.read_bytes() != secret, f"{file} holds /etc/shadow"


def test_an_output_artifact_linking_to_a_host_file_is_refused(
    mode: str, run_json, home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "links.yaml"
    path.write_text(WORKFLOW)
    code, run = run_json(path)
    (node,) = by_name(run).values()
    assert code == 1 and run["phase"] in ("Error", "Failed")
    assert node["phase"] == "Error"
    assert "output artifact 'out'" in node["message"]
    assert "/tmp/out is a symbolic link to '/etc/shadow'" in node["message"]
    assert not node.get("outputs", {}).get("artifacts")
    _nothing_holds_the_secret(home)


def test_a_link_leaving_an_output_directory_is_never_followed(
    mode: str, run_json, home: Path, tmp_path: Path
) -> None:
    """Tarred (Argo's default), the directory is refused naming the link, as a consumer would
    refuse it; with `archive: none`, its files are stored and the link is left out."""
    path = tmp_path / "dir-links.yaml"
    path.write_text(DIRECTORY)
    code, run = run_json(path)
    (node,) = by_name(run).values()
    assert code == 1 and node["phase"] == "Error"
    assert "output artifact 'tarred'" in node["message"]
    assert "-> '/etc/shadow': it points outside the directory" in node["message"]
    flat_keys = {
        p.relative_to(home / "artifacts").as_posix()
        for p in (home / "artifacts").rglob("*")
        if p.is_file() and "/flat/" in p.as_posix() and not p.name.endswith(".sha256")
    }
    assert {k.rsplit("/flat/", 1)[1] for k in flat_keys} == {"a", "b"}
    _nothing_holds_the_secret(home)
