"""Turning uploaded bytes into a validated Workflow manifest, or a 413/422 that says why.

Three guards run before the engine's loader sees the text: the size cap (checked while reading,
so an oversized body is never held whole), UTF-8, and a bound on how far anchors and aliases
expand (PyYAML shares aliased nodes, but everything after parsing walks them as a tree, so
a few hundred bytes of nested aliases would otherwise cost exponential time). Then the engine's
own loader and validator run, and every problem they report comes back with its field and line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml  # type: ignore[import-untyped]
from fastapi import UploadFile

from engine.errors import SpecError
from server.errors import Invalid, TooLarge
from server.schemas import problem_list

_READ_CHUNK = 64 * 1024


@dataclass(frozen=True)
class ValidPipeline:
    """A manifest that loads and validates: what gets stored and what runs."""

    source_yaml: str
    workflow: Any  # engine.spec.Workflow
    manifest: dict[str, Any]


async def read_upload(upload: UploadFile, limit: int, field: str) -> bytes:
    """The uploaded file's bytes, refused with 413 as soon as they pass `limit`."""
    data = bytearray()
    while True:
        chunk = await upload.read(_READ_CHUNK)
        if not chunk:
            return bytes(data)
        data.extend(chunk)
        if len(data) > limit:
            raise TooLarge(
                f"the upload is larger than the server's limit of {limit} bytes "
                "(KUBEPIPE_SERVER_UPLOAD_MAX_BYTES)",
                field=field,
            )


def decode_text(data: bytes, field: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Invalid(
            f"the upload is not UTF-8 text (byte {exc.start} cannot be decoded); "
            "upload the pipeline's YAML file",
            field=field,
        ) from None


def check_expansion(text: str, max_nodes: int, field: str) -> None:
    """Refuse YAML whose anchors and aliases expand to more than `max_nodes` nodes.

    Composing is linear in the text (aliases become shared node objects); the expanded size of
    each node is then counted once per distinct node, so the check itself is cheap even for a
    bomb. Syntax errors are left to the engine's loader, which reports them with their line.
    """
    try:
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError:
        return
    sizes: dict[int, int] = {}

    def expanded(node: yaml.Node, depth: int) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if depth > 200:
            raise Invalid("the YAML nests deeper than 200 levels", field=field)
        total = 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                total += expanded(k, depth + 1) + expanded(v, depth + 1)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                total += expanded(item, depth + 1)
        sizes[key] = total
        return total

    total = sum(expanded(doc, 0) for doc in documents if doc is not None)
    if total > max_nodes:
        raise Invalid(
            f"the YAML expands to {total} nodes through anchors and aliases, more than the "
            f"server's limit of {max_nodes}; write the repeated parts out, or split the pipeline",
            field=field,
        )


def validate_pipeline(text: str, source: str, max_nodes: int, field: str) -> ValidPipeline:
    """Load and validate as `kubepipe validate` does; a 422 lists every problem with its line."""
    from engine.controllers import default_registry
    from engine.loader import as_workflow, load_manifest
    from engine.validate import validate_workflow

    check_expansion(text, max_nodes, field)
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


def invalid_spec(exc: SpecError, source: str, field: str) -> Invalid:
    """A 422 naming the first problem's field path (or `field`) and listing them all."""
    first = exc.problems[0] if exc.problems else None
    detail = "\n".join(p.render(source) for p in exc.problems) or str(exc)
    return Invalid(
        detail,
        field=(first.path or field) if first else field,
        extra={"problems": problem_list(exc.problems), "source": source},
    )
