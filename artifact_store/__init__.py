"""Artifact storage for kubepipe: where step inputs and outputs live between steps.

The engine talks to an ``ArtifactStore`` by key and records ``uri_for(key)`` in run
metadata. ``open_store`` turns the configured location into a store, so choosing
between the local directory and (later) S3/MinIO is a configuration value, not code.

Examples:
    >>> import tempfile
    >>> store = open_store(tempfile.mkdtemp())
    >>> import io
    >>> store.put_stream("runs/r1/train/metrics.json", io.BytesIO(b"{}")).size
    2
"""

from __future__ import annotations

from pathlib import Path

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
    "is_tar_gz",
    "join_key",
    "open_store",
    "pack_path",
    "parse_uri",
    "unpack_to",
    "validate_key",
    "validate_prefix",
]

S3_UNAVAILABLE = (
    "s3:// artifact stores need the S3 backend (kubepipe issue: durable state); use a local path"
)


def open_store(uri: str) -> ArtifactStore:
    """Open the store at ``uri``: ``file:///abs/dir`` or a plain (possibly relative) path.

    Raises:
        InvalidArtifactKey: if the URI is malformed or has an unknown scheme.
        ArtifactStoreError: for ``s3://`` URIs, until the S3 backend lands.
    """
    if not uri.strip():
        raise InvalidArtifactKey(
            uri,
            "the store location is empty",
            "pass a directory path or file:///abs/dir",
            kind="URI",
        )
    if "://" not in uri:
        return LocalArtifactStore(Path(uri))
    parsed = parse_uri(uri)
    if parsed.scheme == "s3":
        raise ArtifactStoreError(f"cannot open {uri!r}: {S3_UNAVAILABLE}")
    return LocalArtifactStore(Path("/" + parsed.key))
