"""Store records -> API response models (one mapping per type)."""

from __future__ import annotations

from engine.views import iso
from server.runs_index import RunRowSummary
from server.schemas import ExperimentOut, PipelineOut, PipelineVersionOut, RunSummary
from server.store import Experiment, Pipeline, PipelineVersion


def pipeline_out(p: Pipeline) -> PipelineOut:
    return PipelineOut(
        id=p.id,
        namespace=p.namespace,
        name=p.name,
        description=p.description,
        created_at=iso(p.created_at) or "",
        default_version_id=p.default_version_id,
        versions=p.versions,
    )


def version_out(v: PipelineVersion) -> PipelineVersionOut:
    spec = v.manifest.get("spec") or {}
    return PipelineVersionOut(
        id=v.id,
        pipeline_id=v.pipeline_id,
        name=v.name,
        description=v.description,
        created_at=iso(v.created_at) or "",
        templates=len(spec.get("templates") or []),
        entrypoint=spec.get("entrypoint"),
        parameters={
            str(p.get("name")): (None if p.get("value") is None else str(p.get("value")))
            for p in (spec.get("arguments") or {}).get("parameters") or []
            if isinstance(p, dict) and p.get("name")
        },
    )


def experiment_out(e: Experiment) -> ExperimentOut:
    return ExperimentOut(
        id=e.id,
        namespace=e.namespace,
        name=e.name,
        description=e.description,
        created_at=iso(e.created_at) or "",
        runs=e.runs,
    )


def run_summary(row: RunRowSummary) -> RunSummary:
    r, links = row.run, row.links
    return RunSummary(
        id=r.id,
        name=r.name,
        namespace=r.namespace,
        phase=r.phase,
        message=r.message,
        created_at=iso(r.created_at),
        started_at=iso(r.started_at),
        finished_at=iso(r.finished_at),
        experiment_id=links.experiment_id,
        pipeline_id=links.pipeline_id,
        pipeline_version_id=links.pipeline_version_id,
        retry_of=links.retry_of,
    )
