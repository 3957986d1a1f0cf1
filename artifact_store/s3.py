"""The S3/MinIO artifact store: one object per key in a bucket, on the ``minio`` client.

Layout: the artifact for key ``a/b/c`` in the store ``s3://bucket/team`` is the object
``team/a/b/c`` of ``bucket``, so ``mc ls`` or ``aws s3 ls`` show a run's outputs. Each
object carries the sha256 of its bytes as user metadata (``x-amz-meta-sha256``), which
``stat`` and ``list`` report without reading the data and ``get_file`` verifies.

How the protocol maps onto S3:

- Writes. S3 takes user metadata when an upload *starts*, but a digest is known only when
  the bytes have gone by. So the digest is computed first, from bytes that are already on
  local disk: ``put_file`` hashes the file, then uploads it with its known size (one
  PUT up to ``part_size``, else a multipart upload holding one part in memory at a
  time) and hashes it again on the way, aborting before the last part if the file
  changed in between.
  ``put_stream`` spools the stream to an unnamed temporary file while hashing it (bounded
  memory; disk space for one artifact), then uploads that file. An S3 object appears
  only when its single PUT or its CompleteMultipartUpload succeeds, so a failed upload
  never leaves a partial object: the store aborts the multipart upload, and if the server
  is unreachable even for that, the uploaded parts wait (invisible to readers and to
  ``list``) for a bucket lifecycle rule (AbortIncompleteMultipartUpload) to reclaim them.
- Reads stream the GET response in ``CHUNK_SIZE`` chunks. A connection that breaks
  mid-body is resumed with a ranged GET (``Range: bytes=N-`` plus ``If-Match`` on the
  ETag, so a replaced object is never spliced onto the old one's first half).
  ``get_file`` writes to a temporary file beside ``dest`` and renames it only when the
  digest matches, so a mismatch or a broken download leaves ``dest`` untouched.
- ``list`` asks for user metadata in the listing (a MinIO extension of ListObjectsV2);
  servers that ignore it (AWS S3, moto) cost one HEAD per listed object.
- Errors from minio and urllib3 are translated at this boundary (httpx ``map_exceptions``
  style) into ``ArtifactNotFound`` or ``ArtifactStoreError`` whose message names the store
  (bucket and endpoint), the key and the fix.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import stat as stat_mode
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, BinaryIO

import certifi
import urllib3
from minio import Minio
from minio.datatypes import Object, Part
from minio.deleteobjects import DeleteObject
from minio.error import InvalidResponseError, S3Error, ServerError
from minio.helpers import DictType
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NewConnectionError,
    ResponseError,
)
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import SSLError as Urllib3SSLError

from artifact_store._atomic import Written, atomic_target, copy_hashing
from artifact_store._oserrors import caller_path, guarded_reader, source_stream_error
from artifact_store.base import CHUNK_SIZE, ArtifactInfo
from artifact_store.errors import (
    ArtifactIntegrityError,
    ArtifactNotFound,
    ArtifactStoreError,
    InvalidArtifactKey,
)
from artifact_store.settings import ENV_PREFIX, S3Settings, load_s3_settings, require_complete
from artifact_store.uri import (
    ParsedUri,
    join_key,
    normalised_digest,
    parse_uri,
    validate_key,
    validate_prefix,
)

__all__ = ["DEFAULT_PART_SIZE", "S3ArtifactStore"]

MIB = 1024 * 1024
DEFAULT_PART_SIZE = 5 * MIB
"""S3's smallest multipart part; minio holds one part in memory while sending it."""

MAX_PARTS = 10_000
DIGEST_METADATA = "sha256"
"""User-metadata name of the digest; S3 stores and returns it as ``x-amz-meta-sha256``."""

_MAX_RESUMES = 3
_DELETE_BATCH = 1000
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_DIGEST_HEADERS = {f"x-amz-meta-{DIGEST_METADATA}", DIGEST_METADATA}
_MISSING_CODES = {"NoSuchKey", "NoSuchBucket", "NoSuchObject", "NotFound"}
_CREDENTIAL_CODES = {
    "AccessDenied",
    "AllAccessDisabled",
    "ExpiredToken",
    "InvalidAccessKeyId",
    "InvalidToken",
    "SignatureDoesNotMatch",
}
_REGION_CODES = {
    "AuthorizationHeaderMalformed",
    "InvalidRegion",
    "IllegalLocationConstraintException",
}
_Reader = Callable[[int], "bytes | None"]
_SPOOL = ".kubepipe-spool-"
_UPLOAD_FIX = "pass an existing regular file; pack a directory first with artifact_store.pack_path"


class S3ArtifactStore:
    """An ``ArtifactStore`` over a bucket (and optional key prefix) of an S3-compatible server.

    The bucket is created by the first write if it does not exist; opening a store and
    reading from it never creates anything (a missing bucket reads as an empty store).
    The store holds no state besides its client, so one instance may be shared by threads.

    Memory per call is bounded by ``part_size`` (one multipart part) plus ``CHUNK_SIZE``,
    whatever the artifact size. Above ``part_size * 10_000`` bytes (48.8 GiB at the
    default) the part size grows, as S3 allows at most 10,000 parts.
    """

    def __init__(
        self,
        bucket: str,
        *,
        endpoint: str,
        access_key: str,
        secret_key: str,
        secure: bool | None = None,
        region: str | None = None,
        prefix: str = "",
        part_size: int = DEFAULT_PART_SIZE,
        retries: int = 3,
        connect_timeout: float = 10.0,
        read_timeout: float = 120.0,
        spool_dir: Path | str | None = None,
    ) -> None:
        """Describe the store; no request is made until the first read or write.

        Args:
            bucket: the bucket name (created on first write if missing).
            endpoint: ``host:port`` of the S3 API; ``http://`` or ``https://`` may be
                written, and then decides ``secure`` unless it is given.
            secure: use HTTPS. Default: from the endpoint's scheme, else plain HTTP.
            region: the bucket's region; default: asked from the server once per bucket.
            prefix: keys live under ``prefix/`` inside the bucket (``s3://bucket/prefix``).
            part_size: multipart part size in bytes (at least 5 MiB, S3's minimum).
            retries: how often a request is retried on connection errors and 5xx answers.
            connect_timeout, read_timeout: seconds before a silent server is given up on.
            spool_dir: where ``put_stream`` spools a stream before uploading it
                (default: the system temporary directory).

        Raises:
            InvalidArtifactKey: for a malformed bucket name or prefix.
            ArtifactStoreError: for a malformed endpoint or part size.
        """
        root = parse_uri(f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}")
        self._bucket = root.bucket_or_root
        self._prefix = root.key
        host, self._secure = _split_endpoint(endpoint, secure)
        self._endpoint = f"{'https' if self._secure else 'http'}://{host}"
        if part_size < DEFAULT_PART_SIZE:
            raise ArtifactStoreError(
                f"part_size {part_size} is below S3's minimum multipart part size. Fix: pass "
                f"part_size >= {DEFAULT_PART_SIZE} (5 MiB)"
            )
        self._part_size = part_size
        self._spool_dir = None if spool_dir is None else Path(spool_dir)
        self._bucket_ready = False
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            maxsize=10,
            cert_reqs="CERT_REQUIRED",
            ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
            retries=urllib3.Retry(
                total=retries,
                backoff_factor=0.2,
                status_forcelist=[500, 502, 503, 504],
            ),
        )
        try:
            self._client = Minio(
                host,
                access_key=access_key,
                secret_key=secret_key,
                secure=self._secure,
                region=region,
                http_client=http,
            )
        except ValueError as exc:
            raise ArtifactStoreError(
                f"cannot use S3 endpoint {endpoint!r} for s3://{self._bucket}: {exc}. Fix: set "
                f"{ENV_PREFIX}ENDPOINT to host:port of the S3 API, such as 127.0.0.1:9000"
            ) from None

    @classmethod
    def from_uri(
        cls, uri: str, settings: S3Settings | None = None, **options: Any
    ) -> S3ArtifactStore:
        """Open ``s3://bucket[/prefix]`` with endpoint and credentials from ``settings``.

        Without ``settings`` they are read from the ``KUBEPIPE_S3_*`` environment
        variables. ``options`` are passed to the constructor (``part_size``, ``retries``...).

        Raises:
            InvalidArtifactKey: if ``uri`` is not a well-formed ``s3://`` URI.
            ArtifactStoreError: naming every missing ``KUBEPIPE_S3_*`` variable.
        """
        parsed = parse_uri(uri)
        if parsed.scheme != "s3":
            raise InvalidArtifactKey(
                uri, "it is not an s3:// URI", "write s3://bucket or s3://bucket/prefix", kind="URI"
            )
        if settings is None:
            settings = load_s3_settings(uri)
        else:
            require_complete(settings, uri)
        assert settings.endpoint and settings.access_key and settings.secret_key
        return cls(
            parsed.bucket_or_root,
            prefix=parsed.key,
            endpoint=settings.endpoint,
            access_key=settings.access_key,
            secret_key=settings.secret_key.get_secret_value(),
            secure=settings.secure,
            region=settings.region,
            **options,
        )

    @property
    def bucket(self) -> str:
        """The bucket holding the artifacts."""
        return self._bucket

    @property
    def prefix(self) -> str:
        """The key prefix inside the bucket (``""`` for the whole bucket), without '/'."""
        return self._prefix

    @property
    def root_uri(self) -> str:
        """``s3://bucket[/prefix]``: the URI this store was opened from."""
        return ParsedUri("s3", self._bucket, self._prefix).uri

    @property
    def endpoint(self) -> str:
        """The server's base URL, such as ``http://127.0.0.1:9000``."""
        return self._endpoint

    def __repr__(self) -> str:
        """Show bucket, prefix and endpoint: what tells two stores apart in logs."""
        return f"S3ArtifactStore({self.root_uri!r}, endpoint={self._endpoint!r})"

    # -- naming ---------------------------------------------------------------

    def uri_for(self, key: str) -> str:
        """Return ``s3://bucket/<prefix>/<key>`` (keys are written verbatim, as S3 tools do)."""
        return ParsedUri("s3", self._bucket, self._object_name(key)).uri

    def key_from_uri(self, uri: str) -> str:
        """Return the key of an ``s3://`` URI inside this store's bucket and prefix."""
        parsed = parse_uri(uri)
        if parsed.scheme != "s3":
            raise InvalidArtifactKey(
                uri,
                f"it is a {parsed.scheme}:// URI, but this store is {self.root_uri}",
                "open the store the URI was recorded from with open_store(...)",
                kind="URI",
            )
        key = self._key_of(parsed.key) if parsed.bucket_or_root == self._bucket else None
        if key is None:
            raise InvalidArtifactKey(
                uri,
                f"it is outside this store ({self.root_uri})",
                "open the store whose bucket and prefix contain the URI",
                kind="URI",
            )
        return key

    # -- writes ---------------------------------------------------------------

    def put_file(self, key: str, src: Path, *, durable: bool = True) -> ArtifactInfo:
        """Upload the regular file ``src`` under ``key``.

        The file is read twice: once to compute the digest that is stored with the
        object, once to upload it (hashed again, so a file that changes in between is
        refused instead of stored under a wrong digest). ``durable`` changes nothing:
        S3 acknowledges a write only once it is stored.
        """
        del durable
        key = self._checked(key)
        src = Path(src)
        with caller_path(src, "read the upload source", _UPLOAD_FIX):
            source = src.open("rb")  # A directory fails here with IsADirectoryError.
        with source:
            if not stat_mode.S_ISREG(os.fstat(source.fileno()).st_mode):
                raise ArtifactStoreError(
                    f"cannot read the upload source {str(src)!r}: it is not a regular file. "
                    "Fix: pass a regular file, or stream it with put_stream"
                )
            read = guarded_reader(source.read, source_stream_error(key))
            written = copy_hashing(read, _discard)
            source.seek(0)
            return self._upload(key, read, written, _Rehash(written, key, src))

    def put_stream(self, key: str, stream: BinaryIO) -> ArtifactInfo:
        """Store everything read from ``stream`` under ``key``.

        The stream is spooled to an unnamed temporary file (hashed on the way) and the
        file is uploaded, because S3 wants the digest metadata before the first byte.
        """
        key = self._checked(key)
        read = guarded_reader(stream.read, source_stream_error(key))
        where = str(self._spool_dir or tempfile.gettempdir())
        with self._spooling(key, where) as spool:
            try:
                written = copy_hashing(read, spool.write)
                spool.flush()
                spool.seek(0)
            except OSError as exc:  # The source's errors were translated by guarded_reader.
                raise _spool_error(key, where, exc) from exc
            spooled = guarded_reader(spool.read, lambda exc: _spool_error(key, where, exc))
            return self._upload(key, spooled, written, None)

    @contextmanager
    def _spooling(self, key: str, where: str) -> Iterator[BinaryIO]:
        """An unnamed temporary file: nothing is left behind, even by a killed process."""
        try:  # Closed by the with below; a with here would close it before the yield.
            spool = tempfile.TemporaryFile(prefix=_SPOOL, dir=self._spool_dir)  # noqa: SIM115
        except OSError as exc:
            raise _spool_error(key, where, exc) from exc
        with spool:
            yield spool  # type: ignore[misc]

    def _upload(
        self, key: str, read: _Reader, written: Written, rehash: _Rehash | None
    ) -> ArtifactInfo:
        """Upload exactly ``written.size`` bytes from ``read``, holding one part at a time.

        The multipart loop is written here rather than left to ``Minio.put_object``, which
        keeps the previous part alive while reading the next one (two parts in memory).
        It uses minio's own multipart calls (``_create_multipart_upload``,
        ``_upload_part``, ``_complete_multipart_upload``, ``_abort_multipart_upload``),
        stable since minio 7.0 but underscored: the contract tests pin their behaviour.
        """
        self.ensure_bucket(for_key=key)
        name = self._object_name(key)
        part_size = self._part_size_for(written.size)
        client = self._client
        with self._translating("upload", key=key, upload=True):
            if written.size <= part_size:
                data = _read_part(read, written.size, rehash, last=True)
                client._put_object(self._bucket, name, data, self._object_headers(written))
            else:
                upload_id = client._create_multipart_upload(
                    self._bucket, name, self._object_headers(written)
                )
                try:
                    parts: list[Part] = []
                    remaining = written.size
                    while remaining:
                        size = min(part_size, remaining)
                        data = _read_part(read, size, rehash, last=size == remaining)
                        number = len(parts) + 1
                        etag = client._upload_part(
                            self._bucket, name, data, None, upload_id, number
                        )
                        del data  # Free this part before reading the next one.
                        parts.append(Part(number, etag))
                        remaining -= size
                    client._complete_multipart_upload(self._bucket, name, upload_id, parts)
                except BaseException:
                    # Best effort: with the server gone this fails too, and the parts stay,
                    # invisible, until a lifecycle rule for incomplete uploads reclaims them.
                    with suppress(Exception):
                        client._abort_multipart_upload(self._bucket, name, upload_id)
                    raise
        return ArtifactInfo(
            uri=self.uri_for(key), key=key, sha256=written.sha256, size=written.size
        )

    @staticmethod
    def _object_headers(written: Written) -> DictType:
        return {
            "Content-Type": "application/octet-stream",
            f"x-amz-meta-{DIGEST_METADATA}": written.sha256,
        }

    def ensure_bucket(self, *, for_key: str | None = None) -> None:
        """Create the bucket if it does not exist yet (done by the first write anyway).

        ``for_key`` names the artifact being written, for the error message.
        """
        if self._bucket_ready:
            return
        action = "check or create the bucket for" if for_key else "check or create"
        with self._translating(action, key=for_key, upload=for_key is not None):
            if not self._client.bucket_exists(self._bucket):
                try:
                    self._client.make_bucket(self._bucket)
                except S3Error as exc:
                    if exc.code != "BucketAlreadyOwnedByYou":  # Another writer was first.
                        raise
        self._bucket_ready = True

    # -- reads ----------------------------------------------------------------

    def get_file(self, key: str, dest: Path, *, expected_sha256: str | None = None) -> ArtifactInfo:
        """Download the artifact to ``dest`` atomically, verifying its sha256 on the way.

        The digest checked is ``expected_sha256`` when given, else the one stored with
        the object at upload. On a mismatch or a failed download ``dest`` is left exactly
        as it was.
        """
        key = self._checked(key)
        expected = normalised_digest(key, expected_sha256)
        uri = self.uri_for(key)
        dest = Path(dest)
        with self._reader(key) as reader:
            expected = expected or reader.recorded_sha256
            fix = "pass a file path (not a directory) in a writable directory"
            with (
                caller_path(dest, "write the download target", fix),
                atomic_target(dest) as pending,
            ):
                written = copy_hashing(reader.read, pending.file.write)
                if expected is not None and written.sha256 != expected:
                    raise ArtifactIntegrityError(key, uri, expected, written.sha256)
        return ArtifactInfo(uri=uri, key=key, sha256=written.sha256, size=written.size)

    @contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        """Stream the artifact (not verified: use get_file for that); resumes broken reads.

        The stream is buffered, so iterating over lines is cheap.
        """
        key = self._checked(key)
        with self._reader(key) as reader, io.BufferedReader(reader, CHUNK_SIZE) as stream:
            yield stream  # type: ignore[misc]

    def exists(self, key: str) -> bool:
        """Whether ``key`` holds an artifact (an unfinished upload is not an object yet)."""
        key = self._checked(key)
        try:
            self._stat_object(key)
        except ArtifactNotFound:
            return False
        return True

    def stat(self, key: str) -> ArtifactInfo:
        """Describe the artifact from its object metadata, without reading its bytes.

        An object written by another tool has no digest metadata; it is hashed by
        streaming it (each time: recording the digest would mean rewriting the object).
        """
        key = self._checked(key)
        obj = self._stat_object(key)
        digest = _recorded_digest(obj.metadata)
        if digest is None or obj.size is None:
            return self._hash_object(key)
        return ArtifactInfo(uri=self.uri_for(key), key=key, sha256=digest, size=obj.size)

    def list(self, prefix: str = "") -> Iterator[ArtifactInfo]:
        """Yield artifacts whose keys start with ``prefix`` (a string prefix), in key order.

        The prefix is checked at the call, not at the first ``next()``.
        """
        validate_prefix(prefix)
        return self._describe_all(prefix)

    def _describe_all(self, prefix: str) -> Iterator[ArtifactInfo]:
        for key, obj in self._objects(prefix, with_metadata=True):
            digest = _recorded_digest(obj.metadata)
            if digest is not None and obj.size is not None:
                yield ArtifactInfo(uri=self.uri_for(key), key=key, sha256=digest, size=obj.size)
                continue
            try:
                yield self.stat(key)  # The server does not list user metadata.
            except ArtifactNotFound:
                continue  # Deleted while we were listing.

    # -- deletes --------------------------------------------------------------

    def delete(self, key: str) -> None:
        """Remove the artifact; a missing key (or bucket) is fine, so cleanup can be retried."""
        key = self._checked(key)
        with self._translating("delete", key=key):
            try:
                self._client.remove_object(self._bucket, self._object_name(key))
            except S3Error as exc:
                if exc.code not in _MISSING_CODES:
                    raise

    def delete_prefix(self, prefix: str) -> int:
        """Remove every artifact under a non-empty ``prefix``; return how many were removed."""
        if prefix == "":
            raise InvalidArtifactKey(
                prefix,
                "an empty prefix would delete every artifact in the store",
                "pass a non-empty prefix such as 'runs/<run-id>/'; to wipe an S3 store, "
                "remove its bucket or prefix with the S3 tools (mc rb, aws s3 rm)",
                kind="prefix",
            )
        validate_prefix(prefix)
        removed = 0
        batch: list[str] = []
        for _key, obj in self._objects(prefix, with_metadata=False):
            batch.append(obj.object_name or "")
            if len(batch) == _DELETE_BATCH:
                removed += self._remove_batch(batch, prefix)
                batch = []
        if batch:
            removed += self._remove_batch(batch, prefix)
        return removed

    def _remove_batch(self, names: Sequence[str], prefix: str) -> int:
        with self._translating("delete", prefix=prefix):
            errors = list(self._client.remove_objects(self._bucket, map(DeleteObject, names)))
        if errors:
            first = errors[0]
            raise ArtifactStoreError(
                f"{self._label}: could not delete {len(errors)} of {len(names)} artifacts under "
                f"prefix {prefix!r}; the first, {first.name!r}, failed with {first.code}: "
                f"{first.message}. Fix: check that the credentials may delete objects in bucket "
                f"{self._bucket!r}, then retry (deleting again is safe)"
            )
        return len(names)

    # -- internals ------------------------------------------------------------

    @property
    def _label(self) -> str:
        return f"S3 artifact store {self.root_uri} at {self._endpoint}"

    def _checked(self, key: str) -> str:
        validate_key(key)
        self._object_name(key)  # The prefixed name must be a valid key too (length).
        return key

    def _object_name(self, key: str) -> str:
        validate_key(key)
        return join_key(self._prefix, key) if self._prefix else key

    def _key_of(self, name: str) -> str | None:
        """The key of the object ``name`` if it lies inside this store and is a valid key."""
        if self._prefix:
            if not name.startswith(self._prefix + "/"):
                return None
            name = name[len(self._prefix) + 1 :]
        try:
            return validate_key(name)
        except InvalidArtifactKey:
            return None  # Put there by another tool under a name no key can address.

    def _part_size_for(self, size: int) -> int:
        needed = -(-size // MAX_PARTS)
        if needed <= self._part_size:
            return self._part_size
        return -(-needed // MIB) * MIB

    def _stat_object(self, key: str) -> Object:
        with self._translating("look up", key=key):
            return self._client.stat_object(self._bucket, self._object_name(key))

    def _get_object(
        self, key: str, offset: int = 0, etag: str | None = None, action: str = "download"
    ) -> Any:
        headers: DictType | None = {"If-Match": etag} if etag else None
        with self._translating(action, key=key):
            try:
                return self._client.get_object(
                    self._bucket, self._object_name(key), offset=offset, request_headers=headers
                )
            except S3Error as exc:
                if exc.code == "PreconditionFailed":
                    raise ArtifactStoreError(
                        f"{self._label}: artifact {key!r} was replaced while it was being read "
                        "(its ETag changed). Fix: read it again"
                    ) from exc
                raise

    @contextmanager
    def _reader(self, key: str) -> Iterator[_ObjectReader]:
        reader = _ObjectReader(self, key, self._get_object(key))
        try:
            yield reader
        finally:
            reader.close()

    def _hash_object(self, key: str) -> ArtifactInfo:
        with self._reader(key) as reader:
            written = copy_hashing(reader.read, _discard)
        return ArtifactInfo(self.uri_for(key), key, written.sha256, written.size)

    def _objects(self, prefix: str, *, with_metadata: bool) -> Iterator[tuple[str, Object]]:
        """Yield (key, object) for the store's objects under ``prefix``, in key order."""
        name_prefix = f"{self._prefix}/{prefix}" if self._prefix else prefix
        listing = iter(
            self._client.list_objects(
                self._bucket,
                prefix=name_prefix or None,
                recursive=True,
                include_user_meta=with_metadata,
            )
        )
        while True:
            with self._translating("list", prefix=prefix):
                try:
                    obj = next(listing, None)
                except S3Error as exc:
                    if exc.code == "NoSuchBucket":
                        return  # Nothing was ever written: an empty store.
                    raise
            if obj is None:
                return
            key = None if obj.is_dir or obj.object_name is None else self._key_of(obj.object_name)
            if key is not None:
                yield key, obj

    @contextmanager
    def _translating(
        self,
        action: str,
        *,
        key: str | None = None,
        prefix: str | None = None,
        upload: bool = False,
    ) -> Iterator[None]:
        """Turn minio and urllib3 failures into the store's errors, naming store, key and fix."""
        try:
            yield
        except ArtifactStoreError:
            raise
        except S3Error as exc:
            if exc.code == "NoSuchBucket":
                self._bucket_ready = False  # Deleted behind our back: create it again next write.
            if key is not None and exc.code in _MISSING_CODES and not upload:
                raise ArtifactNotFound(key, self.uri_for(key)) from exc
            raise self._failure(action, key, prefix, *self._explain_s3(exc), upload) from exc
        except InvalidResponseError as exc:
            reason = f"the server did not answer like an S3 API ({_one_line(exc)})"
            fix = (
                f"check {ENV_PREFIX}ENDPOINT: it must be the S3 API (MinIO serves it on port "
                f"9000, its console on 9001), and {ENV_PREFIX}SECURE must match http/https"
            )
            raise self._failure(action, key, prefix, reason, fix, upload) from exc
        except ServerError as exc:
            reason = f"the server failed with HTTP status {exc.status_code}"
            fix = "check the S3 server's health and logs, then retry"
            raise self._failure(action, key, prefix, reason, fix, upload) from exc
        except (Urllib3Error, OSError) as exc:
            raise self._failure(action, key, prefix, *self._explain_transport(exc), upload) from exc

    def _failure(
        self,
        action: str,
        key: str | None,
        prefix: str | None,
        reason: str,
        fix: str,
        upload: bool,
    ) -> ArtifactStoreError:
        if key is not None:
            subject = f"artifact {key!r} ({self.uri_for(key)})"
        elif prefix is not None:
            subject = f"artifacts under prefix {prefix!r}"
        else:
            subject = f"bucket {self._bucket!r}"
        stored = (
            "; the upload did not complete, and S3 never shows a partial object" if upload else ""
        )
        return ArtifactStoreError(
            f"{self._label}: cannot {action} {subject}: {reason}{stored}. Fix: {fix}"
        )

    def _explain_s3(self, exc: S3Error) -> tuple[str, str]:
        code, message = exc.code or "error", exc.message or ""
        answered = f"the server answered {code}" + (f" ({message})" if message else "")
        if code in _CREDENTIAL_CODES:
            fix = (
                f"check {ENV_PREFIX}ACCESS_KEY and {ENV_PREFIX}SECRET_KEY, and that this user "
                f"may read, write and list bucket {self._bucket!r}"
            )
            return (f"{answered}: it refused the credentials or their permissions", fix)
        if code in _REGION_CODES or "region" in message.lower():
            return (answered, f"set {ENV_PREFIX}REGION to the region of bucket {self._bucket!r}")
        if code == "NoSuchBucket":
            return (
                f"bucket {self._bucket!r} does not exist",
                "check the bucket in the store URI; the store creates its bucket on first write",
            )
        if code == "BucketAlreadyExists":
            return (
                f"bucket {self._bucket!r} belongs to another account",
                "choose another bucket name in the store URI",
            )
        request = f" (request id {exc.request_id})" if exc.request_id else ""
        return (answered, f"see the S3 server's logs{request}, then retry")

    def _explain_transport(self, exc: BaseException) -> tuple[str, str]:
        cause = exc.reason if isinstance(exc, MaxRetryError) and exc.reason else exc
        detail = _root_cause(cause)
        if isinstance(cause, Urllib3SSLError) or "SSL" in type(cause).__name__:
            fix = (
                f"set {ENV_PREFIX}SECURE=false if the server speaks plain HTTP, or make its "
                "certificate trusted (SSL_CERT_FILE)"
            )
            return (f"the TLS handshake with {self._endpoint} failed ({detail})", fix)
        if isinstance(cause, (NewConnectionError, ConnectTimeoutError, ConnectionRefusedError)):
            fix = (
                f"start the S3 server (MinIO), or correct {ENV_PREFIX}ENDPOINT (host:port of "
                "its S3 API)"
            )
            return (f"nothing answered at {self._endpoint} ({detail})", fix)
        if isinstance(cause, ResponseError):
            return (
                f"the server kept failing ({detail})",
                "check the S3 server's health and logs, then retry",
            )
        return (
            f"the connection to {self._endpoint} broke ({detail})",
            "check that the S3 server is still running and reachable, then retry",
        )


class _Rehash:
    """Hashes an upload source again as it is sent, to refuse a file that changed meanwhile.

    The check runs on the last part before it is sent, so a changed file is never
    completed as an object (the multipart upload is aborted).
    """

    def __init__(self, expected: Written, key: str, src: Path) -> None:
        self._expected = expected
        self._key = key
        self._src = src
        self._digest = hashlib.sha256()

    def update(self, data: bytes) -> None:
        self._digest.update(data)

    def verify(self, complete: bool) -> None:
        if not complete or self._digest.hexdigest() != self._expected.sha256:
            raise ArtifactStoreError(
                f"the upload source {str(self._src)!r} changed while it was being uploaded "
                f"as artifact {self._key!r} (its size or sha256 differs from the first "
                "read); nothing was stored. Fix: upload the file once whatever writes it "
                "has finished"
            )


def _read_part(read: _Reader, size: int, rehash: _Rehash | None, *, last: bool) -> bytes:
    """Read exactly ``size`` bytes (one read for a file; a short source is an error)."""
    data = read(size) or b""
    if 0 < len(data) < size:
        chunks, got = [data], len(data)
        while got < size and (more := read(size - got)):
            chunks.append(more)
            got += len(more)
        data = b"".join(chunks)
    if rehash is not None:
        rehash.update(data)
        if last or len(data) < size:
            rehash.verify(complete=len(data) == size)
    if len(data) < size:
        raise ArtifactStoreError(
            f"the upload source ended after fewer bytes than were hashed ({len(data)} of "
            f"{size} in this part); nothing was stored. Fix: retry the upload"
        )
    return data


class _ObjectReader(io.RawIOBase):
    """A GET response read in chunks, resumed with a ranged GET if the connection breaks."""

    def __init__(self, store: S3ArtifactStore, key: str, response: Any) -> None:
        super().__init__()
        self._store = store
        self._key = key
        self._response = response
        headers = response.headers
        self._etag: str | None = headers.get("ETag")
        length = headers.get("Content-Length")
        self._size = int(length) if length is not None else None
        self._offset = 0
        self._resumes = 0
        self.recorded_sha256 = _recorded_digest(headers)

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        while size and (self._size is None or self._offset < self._size):
            try:
                data = self._response.read(size)
            except (Urllib3Error, OSError) as exc:
                self._resume(exc)
                continue
            if not data:
                if self._size is None:
                    break
                self._resume(None)  # The body ended early without an error.
                continue
            self._offset += len(data)
            return bytes(data)
        return b""

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        chunks = []
        while chunk := self.read(CHUNK_SIZE):
            chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        if not self.closed:
            self._release()
        super().close()

    def _release(self) -> None:
        with suppress(Exception):  # A broken connection is being discarded anyway.
            self._response.close()
            self._response.release_conn()

    def _resume(self, cause: BaseException | None) -> None:
        self._release()
        if self._resumes >= _MAX_RESUMES or self._size is None:
            raise self._store._failure(
                "download",
                self._key,
                None,
                f"the transfer broke {self._resumes + 1} times mid-body (last at byte "
                f"{self._offset} of {self._size}: {_describe_break(cause)})",
                "check that the S3 server is still running and reachable, then retry",
                False,
            ) from cause
        self._resumes += 1
        response = self._store._get_object(
            self._key,
            offset=self._offset,
            etag=self._etag,
            action=(
                f"resume (at byte {self._offset}, after {_describe_break(cause)}) the download of"
            ),
        )
        if response.status != 206:
            response.close()
            response.release_conn()
            raise self._store._failure(
                "download",
                self._key,
                None,
                f"the server ignored a ranged GET (status {response.status}) when resuming "
                f"at byte {self._offset}",
                "retry; if it keeps failing, the server does not support Range requests",
                False,
            )
        self._response = response


def _split_endpoint(endpoint: str, secure: bool | None) -> tuple[str, bool]:
    text = (endpoint or "").strip()
    scheme, sep, rest = text.partition("://")
    if sep:
        if scheme not in ("http", "https"):
            raise ArtifactStoreError(
                f"S3 endpoint {endpoint!r} has the scheme {scheme!r}. Fix: set "
                f"{ENV_PREFIX}ENDPOINT to host:port (or http://host:port, https://host:port)"
            )
        implied = scheme == "https"
        if secure is not None and secure != implied:
            raise ArtifactStoreError(
                f"S3 endpoint {endpoint!r} says {scheme}, but {ENV_PREFIX}SECURE is "
                f"{str(secure).lower()}. Fix: drop the scheme from {ENV_PREFIX}ENDPOINT, or make "
                f"{ENV_PREFIX}SECURE agree with it"
            )
        secure, text = implied, rest
    text = text.rstrip("/")
    if not text or "/" in text:
        raise ArtifactStoreError(
            f"S3 endpoint {endpoint!r} is not host:port. Fix: set {ENV_PREFIX}ENDPOINT to the "
            "server's host and port only, such as 127.0.0.1:9000 (the bucket goes in the "
            "store URI: s3://bucket/prefix)"
        )
    return text, bool(secure)


def _recorded_digest(headers: Any) -> str | None:
    """The sha256 stored as user metadata, from response headers or a listing entry."""
    if not headers:
        return None
    for name, value in headers.items():
        if name.lower() in _DIGEST_HEADERS and isinstance(value, str):
            digest = value.strip().lower()
            return digest if _SHA256_HEX.match(digest) else None
    return None


def _spool_error(key: str, where: str, exc: OSError) -> ArtifactStoreError:
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return ArtifactStoreError(
        f"cannot spool the stream for artifact {key!r} to a temporary file in {where!r} "
        f"before uploading it: {exc.strerror or exc}; nothing was stored. Fix: "
        + (
            "free space there, or point TMPDIR (or spool_dir) at a disk with room for the artifact"
            if full
            else "point TMPDIR (or spool_dir) at a writable directory"
        )
    )


def _root_cause(exc: BaseException | None) -> str:
    """The innermost readable reason, e.g. 'Connection refused', instead of urllib3's essay."""
    seen: set[int] = set()
    best = exc
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.strerror:
            return exc.strerror
        best = exc
        exc = getattr(exc, "reason", None) or exc.__cause__ or exc.__context__
    return _one_line(best) if best is not None else "unknown error"


def _describe_break(cause: BaseException | None) -> str:
    return f"the connection broke: {_root_cause(cause)}" if cause else "the body ended early"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _discard(_chunk: bytes) -> None:
    return None
