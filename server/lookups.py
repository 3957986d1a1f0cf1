"""Finding an object the caller may see, or a 404 that reads the same whether the object is
missing or in another namespace (so other namespaces' names never leak)."""

from __future__ import annotations

from engine.errors import RunNotFound
from engine.state import RunRecord
from server.auth import Principal
from server.context import Services
from server.errors import NotFound
from server.store import Experiment, Pipeline, PipelineVersion


def visible_run(svc: Services, who: Principal, run_id: str) -> RunRecord:
    """A run by its exact id (the API never guesses from names or prefixes)."""
    try:
        run = svc.metadata.resolve_run(run_id)
    except RunNotFound:
        run = None
    if run is None or run.id != run_id or not who.can_see(run.namespace):
        raise NotFound(f"no run with id {run_id!r}", field="run_id")
    return run


def visible_pipeline(svc: Services, who: Principal, pipeline_id: str) -> Pipeline:
    found = svc.store.pipeline(pipeline_id)
    if found is None or not who.can_see(found.namespace):
        raise NotFound(f"no pipeline with id {pipeline_id!r}", field="pipeline_id")
    return found


def visible_version(
    svc: Services, who: Principal, version_id: str, pipeline_id: str | None = None
) -> tuple[Pipeline, PipelineVersion]:
    version = svc.store.version(version_id)
    if version is None or (pipeline_id is not None and version.pipeline_id != pipeline_id):
        raise NotFound(f"no pipeline version with id {version_id!r}", field="pipeline_version_id")
    pipeline = svc.store.pipeline(version.pipeline_id)
    if pipeline is None or not who.can_see(pipeline.namespace):
        raise NotFound(f"no pipeline version with id {version_id!r}", field="pipeline_version_id")
    return pipeline, version


def visible_experiment(svc: Services, who: Principal, experiment_id: str) -> Experiment:
    found = svc.store.experiment(experiment_id)
    if found is None or not who.can_see(found.namespace):
        raise NotFound(f"no experiment with id {experiment_id!r}", field="experiment_id")
    return found
