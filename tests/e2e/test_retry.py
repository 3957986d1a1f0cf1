"""`kubepipe retry RUN`: the failed part of a finished run runs again; what succeeded does not."""

from __future__ import annotations

import io
import json
from pathlib import Path

from e2e_support import by_name

from artifact_store import LocalArtifactStore
from engine.metadata.store import MetadataStore

WORKFLOW = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: gated-}
spec:
  entrypoint: main
  onExit: report
  templates:
  - name: main
    dag:
      tasks:
      - {name: prepare, template: say}
      - {name: gate, template: gate, depends: prepare}
      - {name: after, template: say, depends: gate}
  - name: say
    container: {image: alpine, command: [echo, ok]}
  - name: gate
    retryStrategy: {limit: 1}
    inputs:
      artifacts:
      - {name: flag, path: /tmp/flag, optional: true, s3: {key: flags/go}}
    container: {image: alpine, command: [sh, -c, "test -f /tmp/flag && echo passed"]}
  - name: report
    container: {image: alpine, command: [echo, "{{workflow.status}}"]}
"""


def _launches(home: Path, run_id: str) -> dict[str, int]:
    store = MetadataStore(f"sqlite:///{home / 'kubepipe.db'}")
    try:
        state = store.load_state(run_id)
        names = {n.id: n.display_name for n in state.nodes.values()}
        counts: dict[str, int] = {}
        for event in store.node_events(run_id):
            if event.to_phase.value == "Running" and event.reason != "retried":
                name = names.get(event.node_id, event.node_id)
                counts[name] = counts.get(name, 0) + 1
        return counts
    finally:
        store.close()


def test_retry_reruns_only_what_failed_and_the_exit_handler(
    cli, run_json, home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "gated.yaml"
    path.write_text(WORKFLOW)
    code, first = run_json(path)
    assert code == 1 and first["phase"] == "Failed"
    nodes = by_name(first)
    assert nodes["prepare"]["phase"] == "Succeeded" and nodes["after"]["phase"] == "Omitted"
    assert nodes[f"{first['name']}.onExit"]["outputs"]["result"] == "Failed"

    LocalArtifactStore(home / "artifacts").put_stream("flags/go", io.BytesIO(b"go"))
    result = cli("retry", first["id"], "-o", "json")
    assert result.exit_code == 0, result.output
    second = json.loads(result.stdout)
    assert second["id"] == first["id"] and second["phase"] == "Succeeded"
    nodes = by_name(second)
    assert nodes["gate(0)"]["outputs"]["result"] == "passed"
    assert nodes["after"]["phase"] == "Succeeded"
    assert nodes[f"{first['name']}.onExit"]["outputs"]["result"] == "Succeeded"
    launches = _launches(home, first["id"])
    assert launches["prepare"] == 1  # what succeeded is kept, not run again


def test_only_a_failed_finished_run_can_be_retried(cli, run_json, tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(WORKFLOW.replace("test -f /tmp/flag && ", ""))
    code, run = run_json(path)
    assert code == 0
    result = cli("retry", run["id"])
    assert result.exit_code == 1
    assert "is Succeeded: only a Failed or Error run can be retried" in result.output
    assert cli("retry", "no-such-run").exit_code != 0
