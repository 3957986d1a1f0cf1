"""Turning uploaded bytes into a validated Workflow manifest, or a 413/422 that says why.

Every endpoint that takes pipeline YAML (multipart upload, JSON `pipeline_yaml` for pipelines,
runs and recurring runs) goes through `validate_pipeline`, and each limit it applies is a server
setting named in its error. Guards run before the engine's loader sees the text: the size cap
(checked while reading, so an oversized body is never held whole), UTF-8, a nesting depth (PyYAML
composes recursively: `[[[[...` five thousand deep would exhaust the stack) and a node count
that counts each alias as what it expands to (PyYAML shares aliased nodes, but everything after
parsing walks them as a tree, so a few hundred bytes of nested aliases would otherwise cost
exponential time). Then the engine's own loader and validator run, and every problem they
report comes back with its field and line.

Parsing and validating a large upload takes seconds of CPU, so async endpoints run it in a worker
thread (`validate_off_loop`): the event loop keeps answering other requests meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml  # type: ignore[import-untyped]
from fastapi import UploadFile
from fastapi.concurrency import run_in_threadpool

from engine.errors import SpecError
from engine.loader import YamlTooDeep, compose_bounded
from server.errors import Invalid, TooLarge
from server.schemas import problem_list
from server.settings import ServerSettings, limit_body

_READ_CHUNK = 64 * 1024


@dataclass(frozen=True)
class ValidPipeline:
    """A manifest that loads and validates: what gets stored and what runs."""

    source_yaml: str
    workflow: Any  # engine.spec.Workflow
    manifest: dict[str, Any]


def too_large(settings: ServerSettings, what: str, field: str) -> TooLarge:
    limit = settings.upload_max_bytes
    return TooLarge(
        f"{what} is larger than the server's limit of {limit} bytes "
        "(KUBEPIPE_SERVER_UPLOAD_MAX_BYTES)",
        field=field,
        extra=limit_body("upload_max_bytes", limit),
    )


async def read_upload(upload: UploadFile, settings: ServerSettings, field: str) -> bytes:
    """The uploaded file's bytes, refused with 413 as soon as they pass the size cap."""
    data = bytearray()
    while True:
        chunk = await upload.read(_READ_CHUNK)
        if not chunk:
            return bytes(data)
        data.extend(chunk)
        if len(data) > settings.upload_max_bytes:
            raise too_large(settings, "the upload", field)


def decode_text(data: bytes, field: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Invalid(
            f"the upload is not UTF-8 text (byte {exc.start} cannot be decoded); "
            "upload the pipeline's YAML file",
            field=field,
        ) from None


def check_shape(text: str, settings: ServerSettings, field: str) -> None:
    """Refuse YAML nested deeper than `yaml_max_depth`, or with more than `yaml_max_nodes` nodes
    once anchors and aliases are expanded.

    Composing is linear in the text (aliases become shared node objects) and stops at the depth
    limit before the stack does; the expanded size of each node is then counted once per
    distinct node, so the check itself is cheap even for a bomb. Syntax errors are left to the
    engine's loader, which reports them with their line.
    """
    try:
        documents = compose_bounded(text, settings.yaml_max_depth)
    except YamlTooDeep as exc:
        raise Invalid(
            f"the YAML nests deeper than the server's limit of {exc.limit} levels "
            f"(KUBEPIPE_SERVER_YAML_MAX_DEPTH) at line {exc.mark.line + 1}; flatten it",
            field=field,
            extra=limit_body("yaml_max_depth", exc.limit),
        ) from None
    except yaml.YAMLError:
        return
    sizes: dict[int, int] = {}

    def expanded(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        total = 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                total += expanded(k) + expanded(v)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                total += expanded(item)
        sizes[key] = total
        return total

    total = sum(expanded(doc) for doc in documents if doc is not None)
    limit = settings.yaml_max_nodes
    if total > limit:
        raise Invalid(
            f"the YAML has {total} nodes (an alias counts as everything it expands to), more "
            f"than the server's limit of {limit} (KUBEPIPE_SERVER_YAML_MAX_NODES); write fewer "
            "items (withParam can read a long list from a step's output), or split the pipeline",
            field=field,
            extra=limit_body("yaml_max_nodes", limit),
        )


def validate_pipeline(
    text: str, source: str, settings: ServerSettings, field: str
) -> ValidPipeline:
    """Load and validate as `kubepipe validate` does, within the server's limits: 413 for too
    many bytes, 422 for too deep or too many nodes, 422 listing every other problem with its line.
    """
    from engine.controllers import default_registry
    from engine.loader import as_workflow, load_manifest
    from engine.validate import validate_workflow

    if len(text) > settings.upload_max_bytes or len(text.encode()) > settings.upload_max_bytes:
        raise too_large(settings, field, field)
    check_shape(text, settings, field)
    # The loader reads a one-line string naming an existing file as that file: never let an
    # upload be taken for a path on the server.
    body = text if "\n" in text else text + "\n"
    try:
        manifest, _, positions = load_manifest(body)
        workflow = as_workflow(manifest)
        if manifest is not workflow:
            positions = {}
        problems = validate_workflow(
            workflow, positions, known_kinds=set(default_registry().kinds())
        )
        if problems:
            raise SpecError(problems, source)
    except SpecError as exc:
        raise invalid_spec(exc, source, field) from None
    return ValidPipeline(source_yaml=text, workflow=workflow, manifest=workflow.dump())


async def validate_off_loop(
    text: str, source: str, settings: ServerSettings, field: str
) -> ValidPipeline:
    """`validate_pipeline` in a worker thread, for async endpoints: a 60,000-item upload takes
    seconds to parse, and the event loop must keep answering (`/healthz`, other requests)."""
    return await run_in_threadpool(validate_pipeline, text, source, settings, field)


def invalid_spec(exc: SpecError, source: str, field: str) -> Invalid:
    """A 422 naming the first problem's field path (or `field`) and listing them all."""
    first = exc.problems[0] if exc.problems else None
    detail = "\n".join(p.render(source) for p in exc.problems) or str(exc)
    return Invalid(
        detail,
        field=(first.path or field) if first else field,
        extra={"problems": problem_list(exc.problems), "source": source},
    )
