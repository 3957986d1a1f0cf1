"""Starting runs from the API: a stored pipeline version or inline YAML, always through the engine's `Engine.submit(..., queue=True)`, so `kubepipe
engine` workers execute them exactly as they execute `kubepipe run --detach`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.errors import SpecError
from engine.executor import Engine, apply_parameters
from engine.spec import Workflow
from engine.state import RunRecord
from server.context import Services
from server.uploads import invalid_spec


def _engine(svc: Services) -> Engine:
    """An engine used only to submit (queue) runs: it never launches a step, so its runner is
    never asked to do anything."""
    from engine.runners.local import LocalRunner
    from engine.runners.setup import local_runner_settings

    settings = svc.settings.engine
    return Engine(
        svc.metadata,
        svc.artifacts,
        LocalRunner(local_runner_settings(settings)),
        work_root=settings.work_root,
        lease_seconds=settings.lease_seconds,
    )


def prepare(
    manifest: Mapping[str, Any],
    parameters: Mapping[str, str],
    namespace: str,
    source: str,
    *,
    name: str | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Workflow:
    """The workflow to submit: parameters applied and validated again (an enum parameter given
    a value outside its enum is a 422 naming `parameters`), placed in `namespace`."""
    from engine.controllers import default_registry
    from engine.validate import validate_workflow

    workflow = Workflow.model_validate(dict(manifest))
    try:
        workflow = apply_parameters(workflow, dict(parameters), source)
        problems = validate_workflow(workflow, {}, known_kinds=set(default_registry().kinds()))
        if problems:
            raise SpecError(problems, source)
    except SpecError as exc:
        raise invalid_spec(exc, source, "parameters") from None
    meta_update: dict[str, Any] = {"namespace": namespace}
    if name is not None:
        meta_update.update(name=name, generate_name=None)
    if annotations:
        meta_update["annotations"] = {**workflow.metadata.annotations, **annotations}
    return workflow.model_copy(
        update={"metadata": workflow.metadata.model_copy(update=meta_update)}
    )


def submit(svc: Services, workflow: Workflow, source: str) -> RunRecord:
    """Queue the run for the engine workers; nothing executes in the API process."""
    engine = _engine(svc)
    try:
        return engine.submit(workflow, source=source, queue=True)
    finally:
        engine.runner.close()
