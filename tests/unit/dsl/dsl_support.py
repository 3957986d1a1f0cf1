"""Compile DSL pipelines and run them through the real engine on the local runner."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from artifact_store import LocalArtifactStore
from dsl import compile_workflow, to_yaml
from dsl.cli_support import typed_outputs
from engine.executor import Engine
from engine.loader import as_workflow, load_manifest
from engine.metadata.store import MetadataStore
from engine.runners.local import LocalRunner, LocalRunnerSettings
from engine.state import RunState
from engine.validate import validate_workflow
from engine.views import run_json


@dataclass
class Ran:
    phase: str
    outputs: dict[str, Any]
    state: RunState
    run: dict[str, Any]
    yaml_text: str

    def node(self, display: str) -> dict[str, Any]:
        found = [n for n in self.run["nodes"] if n["displayName"] == display]
        assert len(found) == 1, [n["displayName"] for n in self.run["nodes"]]
        return found[0]

    def phases(self) -> dict[str, str]:
        return {n["displayName"]: n["phase"] for n in self.run["nodes"]}


def compiled_text(pipeline: Any) -> str:
    """Compile, then check the YAML loads back into engine.spec unchanged and validates."""
    workflow = compile_workflow(pipeline)
    text = to_yaml(workflow)
    manifest, _, positions = load_manifest(text)
    loaded = as_workflow(manifest)
    assert loaded.dump() == workflow.dump() or _same_pruned(loaded.dump(), workflow.dump())
    problems = validate_workflow(loaded, positions)
    assert not problems, "\n".join(str(p) for p in problems)
    return text


def _same_pruned(a: Any, b: Any) -> bool:
    from dsl._yaml import prune

    return prune(a) == prune(b)


def run_pipeline(
    pipeline: Any,
    tmp: Path,
    parameters: dict[str, Any] | None = None,
    runner_settings: LocalRunnerSettings | None = None,
) -> Ran:
    """Compile and run a pipeline to the end; outputs are re-typed as `kubepipe get` would."""
    return run_text(compiled_text(pipeline), tmp, parameters, runner_settings)


def run_text(
    text: str,
    tmp: Path,
    parameters: dict[str, Any] | None = None,
    runner_settings: LocalRunnerSettings | None = None,
) -> Ran:
    """Run workflow YAML (compiled or hand-written) to the end in the store under `tmp`."""
    manifest, source, _ = load_manifest(text)
    workflow = as_workflow(manifest)
    metadata = MetadataStore(f"sqlite:///{tmp / 'kp.db'}")
    runner = LocalRunner(runner_settings or LocalRunnerSettings())
    engine = Engine(
        metadata,
        LocalArtifactStore(tmp / "artifacts"),
        runner,
        work_root=tmp / "work",
        poll_interval=0.01,
    )
    params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (parameters or {}).items()}
    from engine.executor import apply_parameters

    workflow = apply_parameters(workflow, params, source)
    try:
        record = engine.submit(workflow, source=source)
        final = engine.execute(record.id)
    finally:
        runner.close()
    state = metadata.load_state(final.id)
    data = run_json(state)
    return Ran(final.phase.value, typed_outputs(workflow, data["outputs"]), state, data, text)


def load_yaml(text: str) -> dict[str, Any]:
    return yaml.safe_load(text)
