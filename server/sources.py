"""What a new run (or recurring run) executes: a stored pipeline's newest version, a named
version, or YAML given inline, resolved once for both kinds of request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.auth import Principal
from server.context import Services
from server.errors import Conflict, Invalid, NotFound
from server.lookups import visible_pipeline, visible_version
from server.uploads import validate_pipeline


@dataclass(frozen=True)
class Source:
    manifest: dict[str, Any]
    label: str  # for people: "pipeline@version" or "pipeline_yaml"
    namespace: str
    pipeline_id: str | None = None
    pipeline_version_id: str | None = None


def resolve_source(
    svc: Services,
    who: Principal,
    *,
    pipeline_id: str | None,
    pipeline_version_id: str | None,
    pipeline_yaml: str | None,
    namespace: str | None,
) -> Source:
    given = [
        name
        for name, value in (
            ("pipeline_id", pipeline_id),
            ("pipeline_version_id", pipeline_version_id),
            ("pipeline_yaml", pipeline_yaml),
        )
        if value
    ]
    if not given:
        raise Invalid(
            "say what to run: pipeline_id, pipeline_version_id or pipeline_yaml",
            field="pipeline_id",
        )
    if pipeline_yaml and len(given) > 1:
        raise Invalid(
            "give pipeline_yaml alone, or a stored pipeline (pipeline_id / pipeline_version_id)",
            field="pipeline_yaml",
        )
    if pipeline_yaml:
        valid = validate_pipeline(pipeline_yaml, "pipeline_yaml", svc.settings, "pipeline_yaml")
        home = who.home(namespace, svc.settings.default_namespace)
        return Source(valid.manifest, "pipeline_yaml", home)
    if pipeline_version_id:
        pipeline, version = visible_version(svc, who, pipeline_version_id, pipeline_id)
    else:
        pipeline = visible_pipeline(svc, who, pipeline_id or "")
        if pipeline.default_version_id is None:
            raise Conflict("the pipeline has no version to run", field="pipeline_id")
        _, version = visible_version(svc, who, pipeline.default_version_id, pipeline.id)
    if namespace is not None and namespace != pipeline.namespace:
        raise NotFound(f"no pipeline with id {pipeline.id!r} in {namespace!r}", field="namespace")
    return Source(
        version.manifest,
        f"{pipeline.name}@{version.name}",
        pipeline.namespace,
        pipeline.id,
        version.id,
    )
