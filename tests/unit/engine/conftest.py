"""A harness that runs workflow YAML through the real engine with a scripted runner."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from artifact_store import LocalArtifactStore
from engine.executor import Engine
from engine.loader import as_workflow, load_manifest
from engine.metadata.store import MetadataStore
from engine.runners.base import StepRequest
from engine.runners.fake import FakeOutcome, FakeRunner
from engine.state import NodeRecord, RunRecord, RunState
from engine.validate import validate_workflow
from engine_support import script as echo_words


@dataclass
class Finished:
    run: RunRecord
    state: RunState
    runner: FakeRunner
    metadata: MetadataStore

    def node(self, display: str) -> NodeRecord:
        found = [n for n in self.state.nodes.values() if n.display_name == display]
        assert len(found) == 1, (
            f"{display!r}: {[n.display_name for n in self.state.nodes.values()]}"
        )
        return found[0]

    def phases(self) -> dict[str, str]:
        return {n.display_name: n.phase.value for n in self.state.nodes.values()}


@pytest.fixture
def run_yaml(tmp_path: Path) -> Callable[..., Finished]:
    def run(
        text: str,
        script: Callable[[StepRequest], FakeOutcome] | None = None,
        parameters: dict[str, str] | None = None,
    ) -> Finished:
        manifest, source, positions = load_manifest(text)
        workflow = as_workflow(manifest)
        problems = validate_workflow(workflow, positions)
        assert not problems, problems
        metadata = MetadataStore(f"sqlite:///{tmp_path / 'kp.db'}")
        runner = FakeRunner(script or echo_words({}))
        engine = Engine(
            metadata,
            LocalArtifactStore(tmp_path / "artifacts"),
            runner,
            work_root=tmp_path / "work",
            poll_interval=0.01,
        )
        record = engine.submit(workflow, parameters=parameters, source=source)
        final = engine.execute(record.id)
        return Finished(final, metadata.load_state(record.id), runner, metadata)

    return run
