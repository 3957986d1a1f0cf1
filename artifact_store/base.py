"""The artifact store protocol that the engine programs against.

Keys, not URIs, are the currency of the API: a key names an artifact relative to
the store, so the same run layout works on a local directory and in an S3 bucket.
URIs are produced by ``uri_for`` for recording in metadata, and turned back into
keys with ``key_from_uri``.

The method set is shaped so that an S3 backend on the ``minio`` client maps onto it
one call each: ``put_stream`` -> ``put_object`` (multipart, unknown length),
``put_file`` -> ``fput_object``, ``open`` -> ``get_object`` (a streaming response),
``stat`` -> ``stat_object``, ``list`` -> ``list_objects(prefix, recursive=True)``,
``delete`` -> ``remove_object``, ``delete_prefix`` -> ``remove_objects``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

__all__ = ["CHUNK_SIZE", "ArtifactInfo", "ArtifactStore"]

CHUNK_SIZE = 1024 * 1024
"""Bytes moved per read/write, so memory stays bounded whatever the artifact size."""


@dataclass(frozen=True)
class ArtifactInfo:
    """What a store knows about one stored artifact.

    ``sha256`` is the lowercase hex digest of the stored bytes, computed while they
    were written, so recording it in run metadata costs no extra read.
    """

    uri: str
    key: str
    sha256: str
    size: int


@runtime_checkable
class ArtifactStore(Protocol):
    """A flat namespace of immutable-once-written blobs addressed by key.

    Contract every implementation keeps (checked by ``tests/contract``):

    - Keys are validated with ``artifact_store.uri.validate_key`` before any I/O;
      bad keys raise ``InvalidArtifactKey``.
    - Writes are atomic: readers see the old artifact or the new one, never a
      partial one, and a failed or crashed write leaves no visible artifact.
    - Data moves in bounded chunks; no method holds a whole artifact in memory.
    - Backend failures surface as ``ArtifactStoreError`` subclasses; a missing key
      on read raises ``ArtifactNotFound``.
    - Prefixes are plain string prefixes of keys, and ``list`` yields keys in
      lexicographic order, as S3 does.
    """

    def uri_for(self, key: str) -> str:
        """Return the URI to record for ``key`` (the artifact need not exist yet)."""
        ...

    def key_from_uri(self, uri: str) -> str:
        """Return the key of a URI this store produced; raise InvalidArtifactKey otherwise."""
        ...

    def put_file(self, key: str, src: Path, *, durable: bool = True) -> ArtifactInfo:
        """Store the regular file ``src`` under ``key``, replacing any previous artifact.

        ``durable=False`` may skip waiting for the bytes to reach stable storage (logs, which a
        power cut may lose); the write is atomic either way.
        """
        ...

    def put_stream(self, key: str, stream: BinaryIO) -> ArtifactInfo:
        """Store everything read from ``stream`` until EOF under ``key``."""
        ...

    def get_file(self, key: str, dest: Path, *, expected_sha256: str | None = None) -> ArtifactInfo:
        """Copy the artifact to ``dest`` atomically, verifying its digest on the way.

        Raises ArtifactIntegrityError (leaving ``dest`` untouched) when the bytes do
        not match ``expected_sha256`` or the digest recorded at write time.
        """
        ...

    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        """Open the artifact for streaming reads; the stream closes with the context."""
        ...

    def exists(self, key: str) -> bool:
        """Say whether ``key`` holds a complete artifact."""
        ...

    def stat(self, key: str) -> ArtifactInfo:
        """Describe the artifact without reading its bytes."""
        ...

    def list(self, prefix: str = "") -> Iterator[ArtifactInfo]:
        """Yield the artifacts whose keys start with ``prefix``, in key order."""
        ...

    def delete(self, key: str) -> None:
        """Remove the artifact; deleting a missing key is not an error (idempotent cleanup)."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Remove every artifact under a non-empty ``prefix`` and return how many went."""
        ...
