"""Pipelines and their versions: upload (multipart, as KFP's `uploadfile`, or JSON), list, get,
the YAML back, a graph preview, delete."""

from __future__ import annotations

import re
from pathlib import PurePath

from fastapi import APIRouter, Depends, File, Query, UploadFile, status
from fastapi.responses import PlainTextResponse

from server.auth import Principal, editor, principal
from server.context import Services, services
from server.convert import pipeline_out, version_out
from server.errors import Invalid
from server.graph import pipeline_graph
from server.lookups import visible_pipeline, visible_version
from server.schemas import (
    Graph,
    PipelineCreate,
    PipelineList,
    PipelineOut,
    PipelineVersionOut,
    VersionList,
)
from server.store import PipelineVersion
from server.uploads import decode_text, read_upload, validate_off_loop, validate_pipeline

router = APIRouter(prefix="/api/v1/pipelines", tags=["pipelines"])

_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_. ]{0,126}[A-Za-z0-9])?$")


def _checked_name(name: str | None, upload: UploadFile | None) -> str:
    """The name given, else the uploaded file's stem, as KFP does."""
    candidate = name
    if candidate is None and upload is not None and upload.filename:
        candidate = PurePath(upload.filename).stem
    if not candidate or not _NAME.match(candidate):
        raise Invalid(
            f"{candidate!r} is not a valid name: use 1-128 letters, digits, '-', '_', '.' or "
            "spaces, starting and ending with a letter or digit",
            field="name",
        )
    return candidate


async def _uploaded(svc: Services, upload: UploadFile) -> tuple[str, str]:
    data = await read_upload(upload, svc.settings, "uploadfile")
    if not data.strip():
        raise Invalid("the uploaded file is empty; upload a Workflow YAML", field="uploadfile")
    return decode_text(data, "uploadfile"), upload.filename or "<upload>"


def _readable_version(
    pipeline_id: str,
    version_id: str,
    who: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> PipelineVersion:
    """The version at /{pipeline_id}/versions/{version_id}, if the caller may see it (else 404)."""
    return visible_version(svc, who, version_id, pipeline_id)[1]


def _editable_version(
    _: Principal = Depends(editor), version: PipelineVersion = Depends(_readable_version)
) -> PipelineVersion:
    """The same, for a caller who may change it: 403 comes before the lookup, as for every
    write (FastAPI resolves these dependencies in order)."""
    return version


def _yaml(version: PipelineVersion) -> PlainTextResponse:
    """A version's YAML, exactly as uploaded."""
    return PlainTextResponse(version.source_yaml, media_type="application/yaml")


@router.post("/upload", status_code=status.HTTP_201_CREATED, response_model=PipelineOut)
async def upload_pipeline(
    uploadfile: UploadFile = File(...),
    name: str | None = Query(default=None),
    description: str = Query(default="", max_length=2000),
    namespace: str | None = Query(default=None),
    who: Principal = Depends(editor),
    svc: Services = Depends(services),
) -> PipelineOut:
    """Upload a pipeline's YAML as multipart field `uploadfile`; 422 lists every problem."""
    final_name = _checked_name(name, uploadfile)
    home = who.home(namespace, svc.settings.default_namespace)
    text, source = await _uploaded(svc, uploadfile)
    valid = await validate_off_loop(text, source, svc.settings, "uploadfile")
    pipeline, _ = svc.store.create_pipeline(home, final_name, description, text, valid.manifest)
    return pipeline_out(pipeline)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=PipelineOut)
def create_pipeline(
    body: PipelineCreate,
    namespace: str | None = Query(default=None),
    who: Principal = Depends(editor),
    svc: Services = Depends(services),
) -> PipelineOut:
    """The same as an upload, with the YAML in a JSON body (`pipeline_yaml`)."""
    home = who.home(namespace, svc.settings.default_namespace)
    valid = validate_pipeline(body.pipeline_yaml, body.name, svc.settings, "pipeline_yaml")
    pipeline, _ = svc.store.create_pipeline(
        home, body.name, body.description, body.pipeline_yaml, valid.manifest
    )
    return pipeline_out(pipeline)


@router.get("", response_model=PipelineList)
def list_pipelines(
    namespace: str | None = Query(default=None),
    who: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> PipelineList:
    scope = who.visible_namespace(namespace)
    return PipelineList(pipelines=[pipeline_out(p) for p in svc.store.pipelines(scope)])


@router.get("/{pipeline_id}", response_model=PipelineOut)
def get_pipeline(
    pipeline_id: str, who: Principal = Depends(principal), svc: Services = Depends(services)
) -> PipelineOut:
    return pipeline_out(visible_pipeline(svc, who, pipeline_id))


@router.get("/{pipeline_id}/yaml", response_class=PlainTextResponse)
def get_pipeline_yaml(
    pipeline_id: str, who: Principal = Depends(principal), svc: Services = Depends(services)
) -> PlainTextResponse:
    """The newest version's YAML, exactly as uploaded."""
    pipeline = visible_pipeline(svc, who, pipeline_id)
    _, version = visible_version(svc, who, pipeline.default_version_id or "", pipeline.id)
    return _yaml(version)


@router.delete("/{pipeline_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_pipeline(
    pipeline_id: str, who: Principal = Depends(editor), svc: Services = Depends(services)
) -> None:
    """The pipeline and its versions; runs started from it keep their own manifest."""
    svc.store.delete_pipeline(visible_pipeline(svc, who, pipeline_id).id)


@router.get("/{pipeline_id}/versions", response_model=VersionList)
def list_versions(
    pipeline_id: str, who: Principal = Depends(principal), svc: Services = Depends(services)
) -> VersionList:
    pipeline = visible_pipeline(svc, who, pipeline_id)
    return VersionList(versions=[version_out(v) for v in svc.store.versions(pipeline.id)])


@router.post(
    "/{pipeline_id}/versions",
    status_code=status.HTTP_201_CREATED,
    response_model=PipelineVersionOut,
)
async def upload_version(
    pipeline_id: str,
    uploadfile: UploadFile = File(...),
    name: str | None = Query(default=None),
    description: str = Query(default="", max_length=2000),
    who: Principal = Depends(editor),
    svc: Services = Depends(services),
) -> PipelineVersionOut:
    """A new version of a pipeline (multipart `uploadfile`); runs use the newest by default."""
    pipeline = visible_pipeline(svc, who, pipeline_id)
    final_name = _checked_name(name, uploadfile)
    text, source = await _uploaded(svc, uploadfile)
    valid = await validate_off_loop(text, source, svc.settings, "uploadfile")
    return version_out(
        svc.store.add_version(pipeline.id, final_name, description, text, valid.manifest)
    )


@router.get("/{pipeline_id}/versions/{version_id}", response_model=PipelineVersionOut)
def get_version(version: PipelineVersion = Depends(_readable_version)) -> PipelineVersionOut:
    return version_out(version)


@router.get("/{pipeline_id}/versions/{version_id}/yaml", response_class=PlainTextResponse)
def get_version_yaml(version: PipelineVersion = Depends(_readable_version)) -> PlainTextResponse:
    return _yaml(version)


@router.get("/{pipeline_id}/versions/{version_id}/graph", response_model=Graph)
def get_version_graph(version: PipelineVersion = Depends(_readable_version)) -> Graph:
    """The entry template's tasks laid out in layers, for the dashboard's preview."""
    return pipeline_graph(version.manifest)


@router.delete("/{pipeline_id}/versions/{version_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_version(
    version: PipelineVersion = Depends(_editable_version), svc: Services = Depends(services)
) -> None:
    svc.store.delete_version(version.id)
