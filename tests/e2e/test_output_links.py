"""The reproduction from issue 12: `ln -s /etc/shadow out`, with `out` an output artifact.

It was stored and served for download. Now the node ends in Error naming the output and why,
no artifact is recorded, and nothing in the artifact store holds the host file's bytes, with
steps in either isolation mode.
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


@pytest.mark.parametrize("mode", ["overlay", "pathmap"])
def test_an_output_artifact_linking_to_a_host_file_is_refused(
    mode: str, run_json, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not os.access(SHADOW, os.R_OK):
        pytest.skip("needs a readable /etc/shadow to show that it is not exported")
    if mode == "overlay":
        reason = Launcher({}, default_passthrough()).probe_overlay(tmp_path / "probe")
        if reason:
            pytest.skip(reason)
    monkeypatch.setenv("KUBEPIPE_ISOLATION", mode)
    path = tmp_path / "links.yaml"
    path.write_text(WORKFLOW)
    code, run = run_json(path)
    (node,) = by_name(run).values()
    assert code == 1 and run["phase"] in ("Error", "Failed")
    assert node["phase"] == "Error"
    assert "output artifact 'out'" in node["message"]
    assert "/tmp/out is a symbolic link to '/etc/shadow'" in node["message"]
    assert not node.get("outputs", {}).get("artifacts")
    secret = SHADOW.read_bytes()
    for folder, _dirs, files in os.walk(home):
        for name in files:
            file = Path(folder) / name
            if not file.is_symlink() and file.stat().st_size == len(secret):
                assert file.read_bytes() != secret, f"{file} holds /etc/shadow"
