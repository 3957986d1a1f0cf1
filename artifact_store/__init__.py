"""Artifact storage for kubepipe: where step inputs and outputs live between steps.

The engine talks to an ``ArtifactStore`` by key and records ``uri_for(key)`` in run
metadata. ``open_store`` turns the configured location into a store, so choosing
between the local directory and S3/MinIO is a configuration value, not code: a path or
``file://`` URI opens a ``LocalArtifactStore``, ``s3://bucket[/prefix]`` an
``S3ArtifactStore`` whose endpoint and credentials come from ``KUBEPIPE_S3_*`` (see
``artifact_store.settings``). The S3 backend and its ``minio`` client are imported only
when an ``s3://`` store is opened.

Examples:
    >>> import tempfile
    >>> store = open_store(tempfile.mkdtemp())
    >>> import io
    >>> store.put_stream("runs/r1/train/metrics.json", io.BytesIO(b"{}")).size
    2
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from artifact_store.archive import is_tar_gz, pack_path, unpack_to
from artifact_store.base import ArtifactInfo, ArtifactStore
from artifact_store.errors import (
    ArchiveError,
    ArtifactIntegrityError,
    ArtifactNotFound,
    ArtifactStoreError,
    InvalidArtifactKey,
)
from artifact_store.local import LocalArtifactStore
from artifact_store.uri import ParsedUri, join_key, parse_uri, validate_key, validate_prefix

if TYPE_CHECKING:
    from artifact_store.s3 import S3ArtifactStore
    from artifact_store.settings import S3Settings

__all__ = [
    "ArchiveError",
    "ArtifactInfo",
    "ArtifactIntegrityError",
    "ArtifactNotFound",
    "ArtifactStore",
    "ArtifactStoreError",
    "InvalidArtifactKey",
    "LocalArtifactStore",
    "ParsedUri",
    "S3ArtifactStore",
    "S3Settings",
    "is_tar_gz",
    "join_key",
    "open_store",
    "pack_path",
    "parse_uri",
    "unpack_to",
    "validate_key",
    "validate_prefix",
]

_LAZY = {"S3ArtifactStore": "artifact_store.s3", "S3Settings": "artifact_store.settings"}


def __getattr__(name: str) -> Any:
    """Import the S3 backend (and its minio client) on first use, not with the package."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'artifact_store' has no attribute {name!r}")


def open_store(uri: str, *, s3_settings: S3Settings | None = None) -> ArtifactStore:
    """Open the store at ``uri``: ``file:///abs/dir``, a plain (possibly relative) path, or
    ``s3://bucket[/prefix]``.

    For ``s3://`` the endpoint and credentials are ``s3_settings`` when given, else read
    from ``KUBEPIPE_S3_ENDPOINT``, ``KUBEPIPE_S3_ACCESS_KEY``, ``KUBEPIPE_S3_SECRET_KEY``
    and ``KUBEPIPE_S3_SECURE``. Opening makes no request; the bucket is created by the
    first write.

    Raises:
        InvalidArtifactKey: if the URI is malformed or has an unknown scheme.
        ArtifactStoreError: for ``s3://`` URIs when a ``KUBEPIPE_S3_*`` variable is missing
            (the message names each one) or the ``minio`` client is not installed.
    """
    if not uri.strip():
        raise InvalidArtifactKey(
            uri,
            "the store location is empty",
            "pass a directory path, file:///abs/dir or s3://bucket/prefix",
            kind="URI",
        )
    if "://" not in uri:
        return LocalArtifactStore(Path(uri))
    parsed = parse_uri(uri)
    if parsed.scheme == "s3":
        return _open_s3(uri, s3_settings)
    return LocalArtifactStore(Path("/" + parsed.key))


def _open_s3(uri: str, settings: S3Settings | None) -> ArtifactStore:
    from artifact_store.settings import load_s3_settings, require_complete

    # Settings first: a missing variable is the likelier mistake, and needs no minio to report.
    if settings is None:
        settings = load_s3_settings(uri)
    else:
        require_complete(settings, uri)
    try:
        from artifact_store.s3 import S3ArtifactStore
    except ImportError as exc:
        if exc.name not in ("minio", "certifi", "urllib3") and "minio" not in str(exc):
            raise
        raise ArtifactStoreError(
            f"cannot open the artifact store {uri!r}: the S3 backend needs the minio client, "
            "which is not installed. Fix: pip install 'kubepipe[s3]'"
        ) from exc
    return S3ArtifactStore.from_uri(uri, settings)
