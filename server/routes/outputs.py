"""What steps leave behind: logs (streamed, optionally followed until the run ends) and artifacts
(metadata, and a streamed download that honours one HTTP byte range).

Only URIs the engine recorded are ever opened: a request names a node and an artifact name, never
a store key, so there is no path for a request to reach other files.
"""

from __future__ import annotations

import asyncio
import mimetypes
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

from fastapi import APIRouter, Depends, Header, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from starlette.concurrency import iterate_in_threadpool

from artifact_store import ArtifactStoreError
from artifact_store.base import CHUNK_SIZE
from engine.views import iso
from server.auth import Principal, principal
from server.context import Services, services
from server.errors import NotFound, RangeNotSatisfiable
from server.lookups import visible_run
from server.schemas import ArtifactList, ArtifactOut

router = APIRouter(prefix="/api/v1/runs", tags=["outputs"])

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _read_all(svc: Services, uri: str) -> Iterator[bytes]:
    store = svc.artifacts
    with store.open(store.key_from_uri(uri)) as handle:
        while chunk := handle.read(CHUNK_SIZE):
            yield chunk


@router.get("/{run_id}/nodes/{node_id}/logs")
async def node_logs(
    run_id: str,
    node_id: str,
    follow: bool = Query(default=False),
    who: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> StreamingResponse:
    """A node's logs as plain text; `follow=true` keeps the response open and adds each log as
    the engine stores it, until the run is finished."""
    run = visible_run(svc, who, run_id)
    state = await run_in_threadpool(svc.metadata.load_state, run.id)
    if node_id not in state.nodes:
        raise NotFound(f"run {run.id} has no node {node_id!r}", field="node_id")

    async def stream() -> AsyncIterator[bytes]:
        sent: set[str] = set()
        while True:
            finished = (await run_in_threadpool(svc.metadata.resolve_run, run.id)).phase
            records = await run_in_threadpool(svc.metadata.logs, run.id, node_id)
            for record in records:
                if record.uri in sent:
                    continue
                sent.add(record.uri)
                async for chunk in iterate_in_threadpool(_read_all(svc, record.uri)):
                    yield chunk
            if not follow or finished.is_finished:
                return
            await asyncio.sleep(svc.settings.follow_interval)

    return StreamingResponse(stream(), media_type="text/plain; charset=utf-8")


@router.get("/{run_id}/artifacts", response_model=ArtifactList)
def list_artifacts(
    run_id: str,
    node_id: str | None = None,
    who: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> ArtifactList:
    """Artifacts the run's steps stored (cached steps point at the run that made them)."""
    run = visible_run(svc, who, run_id)
    out = [
        ArtifactOut(
            node_id=a.node_id,
            name=a.name,
            uri=a.uri,
            sha256=a.sha256,
            size=a.size,
            archived=a.archived,
            created_at=iso(a.created_at),
            download=f"/api/v1/runs/{run.id}/nodes/{a.node_id}/artifacts/{a.name}",
        )
        for a in svc.metadata.artifacts(run.id)
        if node_id is None or a.node_id == node_id
    ]
    return ArtifactList(artifacts=out)


def _artifact(svc: Services, run_id: str, node_id: str, name: str) -> dict[str, Any]:
    """The recorded output (uri, size, archived) of `name` on the node, or 404."""
    state = svc.metadata.load_state(run_id)
    node = state.nodes.get(node_id)
    if node is None:
        raise NotFound(f"run {run_id} has no node {node_id!r}", field="node_id")
    recorded = (node.outputs or {}).get("artifacts") or {}
    entry = recorded.get(name)
    if isinstance(entry, dict) and entry.get("uri"):
        return entry
    for a in svc.metadata.artifacts(run_id):
        if a.node_id == node_id and a.name == name:
            return {"uri": a.uri, "size": a.size, "sha256": a.sha256, "archived": a.archived}
    raise NotFound(f"node {node_id} has no artifact named {name!r}", field="name")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single `bytes=` range, inclusive; None serves the whole body.

    Several ranges, or a header in another unit, are ignored as RFC 9110 allows; a range that
    starts past the end is 416.
    """
    if header is None:
        return None
    match = _RANGE.match(header.strip())
    if match is None or (not match.group(1) and not match.group(2)):
        return None
    start_text, end_text = match.groups()
    if not start_text:  # the last N bytes
        length = int(end_text)
        if length == 0:
            raise RangeNotSatisfiable(f"range {header!r} asks for no bytes", field="Range")
        return max(0, size - length), size - 1
    start = int(start_text)
    end = int(end_text) if end_text else size - 1
    if start >= size or end < start:
        raise RangeNotSatisfiable(
            f"range {header!r} is outside the artifact's {size} bytes", field="Range"
        )
    return start, min(end, size - 1)


def _ranged(svc: Services, uri: str, first: int, last: int) -> Iterator[bytes]:
    store = svc.artifacts
    with store.open(store.key_from_uri(uri)) as handle:
        skip = first
        if skip and getattr(handle, "seekable", lambda: False)():
            handle.seek(skip)
            skip = 0
        while skip:
            skipped = handle.read(min(skip, CHUNK_SIZE))
            if not skipped:
                return
            skip -= len(skipped)
        left = last - first + 1
        while left > 0:
            chunk = handle.read(min(left, CHUNK_SIZE))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


@router.get("/{run_id}/nodes/{node_id}/artifacts/{name}")
def download_artifact(
    run_id: str,
    node_id: str,
    name: str,
    range_header: str | None = Header(default=None, alias="Range"),
    who: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> StreamingResponse:
    """The artifact's stored bytes (an archived directory is its tar.gz), streamed; HTML is
    served sandboxed so an artifact can never script the dashboard."""
    run = visible_run(svc, who, run_id)
    entry = _artifact(svc, run.id, node_id, name)
    store = svc.artifacts
    try:
        info = store.stat(store.key_from_uri(str(entry["uri"])))
    except ArtifactStoreError as exc:
        raise NotFound(f"artifact {name!r} is no longer stored: {exc}", field="name") from None
    media = (
        "application/gzip"
        if entry.get("archived")
        else (mimetypes.guess_type(name)[0] or "application/octet-stream")
    )
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": f'"{info.sha256}"',
        "Content-Security-Policy": "sandbox",
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'attachment; filename="{_safe_filename(name)}"',
    }
    span = parse_range(range_header, info.size)
    if span is None:
        headers["Content-Length"] = str(info.size)
        return StreamingResponse(
            _ranged(svc, info.uri, 0, info.size - 1) if info.size else iter(()),
            media_type=media,
            headers=headers,
        )
    first, last = span
    headers["Content-Range"] = f"bytes {first}-{last}/{info.size}"
    headers["Content-Length"] = str(last - first + 1)
    return StreamingResponse(
        _ranged(svc, info.uri, first, last), status_code=206, media_type=media, headers=headers
    )


def _safe_filename(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "artifact"
