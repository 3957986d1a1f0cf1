"""A step whose logs could not be stored is an Error that says so, not a silent success."""

from __future__ import annotations

from pathlib import Path

from engine_support import script

from artifact_store import ArtifactInfo, ArtifactStoreError, LocalArtifactStore
from engine.executor import Engine
from engine.loader import as_workflow, load_manifest
from engine.metadata.store import MetadataStore
from engine.runners.fake import FakeRunner

WORKFLOW = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: logs}
spec:
  entrypoint: say
  templates:
  - name: say
    container: {image: alpine, command: [echo, hello]}
"""


class _LogsUnreachable(LocalArtifactStore):
    """A store that loses its connection whenever a log is written."""

    def put_file(self, key: str, src: Path, *, durable: bool = True) -> ArtifactInfo:
        if "/logs/" in key:
            raise ArtifactStoreError(f"store unreachable while writing {key!r}")
        return super().put_file(key, src, durable=durable)


def test_a_step_whose_logs_were_lost_is_an_error_naming_the_cause(tmp_path: Path) -> None:
    metadata = MetadataStore(f"sqlite:///{tmp_path / 'kp.db'}")
    engine = Engine(
        metadata,
        _LogsUnreachable(tmp_path / "artifacts"),
        FakeRunner(script({})),
        work_root=tmp_path / "work",
        poll_interval=0.01,
    )
    run = engine.submit(as_workflow(load_manifest(WORKFLOW)[0]))
    final = engine.execute(run.id)
    state = metadata.load_state(run.id)
    (pod,) = [n for n in state.nodes.values() if n.type.value == "Pod"]
    assert pod.phase.value == "Error" and final.phase.value == "Error"
    assert pod.message.startswith("could not store logs: store unreachable while writing")
    assert metadata.logs(run.id) == []
    metadata.close()
