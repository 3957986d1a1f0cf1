"""The local-directory artifact store: the embedded default, one file per key.

Layout under ``root``: the artifact for key ``a/b/c`` is the file ``root/a/b/c``, so a
person can browse a run's outputs with ``ls``. Everything the store keeps for itself
has a name starting with ``.kubepipe`` (digest records in ``root/.kubepipe/meta``,
in-flight writes as ``.kubepipe-tmp-*`` beside their target); such names are never
listed and cannot be used in keys.
"""

from __future__ import annotations

import os
import stat as stat_mode
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from artifact_store._atomic import (
    TEMP_PREFIX,
    PendingWrite,
    Written,
    atomic_target,
    copy_hashing,
    is_reserved_name,
)
from artifact_store._fastcopy import copy_fd_hashing
from artifact_store._oserrors import (
    caller_path,
    guarded_reader,
    reading_artifact,
    source_stream_error,
    stored_read_error,
    writing_artifact,
)
from artifact_store._sidecar import DigestRecord, SidecarIndex
from artifact_store.base import ArtifactInfo
from artifact_store.errors import (
    ArtifactIntegrityError,
    ArtifactNotFound,
    ArtifactStoreError,
    InvalidArtifactKey,
)
from artifact_store.uri import (
    ParsedUri,
    normalised_digest,
    parse_uri,
    validate_key,
    validate_prefix,
)

__all__ = ["LocalArtifactStore"]

_Reader = Callable[[int], "bytes | None"]
_UPLOAD_FIX = "pass an existing regular file; pack a directory first with artifact_store.pack_path"


class LocalArtifactStore:
    """An ``ArtifactStore`` over a directory on the local filesystem.

    Writes are atomic (temp file in the target's directory, fsync, ``os.replace``)
    and hash the bytes as they are written, recording the digest in a sidecar so that
    ``stat`` and ``list`` never re-read artifacts. Several processes may share one
    root: the worst a crash or a race can leave is a stale digest record, which is
    detected (it names the file's inode, size and mtime) and recomputed once.
    """

    def __init__(self, root: Path | str) -> None:
        """Use ``root`` (made absolute) as the store's directory.

        The root is not created here but by the first write, so opening a store only
        to read never leaves directories behind (a mistyped root just lists as empty).
        """
        self._root = Path(root).expanduser().resolve()
        self._index = SidecarIndex(self._root)

    @property
    def root(self) -> Path:
        """The absolute directory holding the artifacts."""
        return self._root

    def __repr__(self) -> str:
        """Show the root, which is what tells two stores apart in logs."""
        return f"LocalArtifactStore({str(self._root)!r})"

    # -- naming ---------------------------------------------------------------

    def uri_for(self, key: str) -> str:
        """Return ``file:///<root>/<key>``, percent-encoded, for recording in metadata."""
        return _file_uri(self._path(key))

    def key_from_uri(self, uri: str) -> str:
        """Return the key of a ``file://`` URI inside this store's root."""
        parsed = parse_uri(uri)
        if parsed.scheme != "file":
            raise InvalidArtifactKey(
                uri,
                f"it is an {parsed.scheme}:// URI, but this store is the local directory "
                f"{self._root}",
                "open the store the URI was recorded from with open_store(...)",
                kind="URI",
            )
        path, base = "/" + parsed.key, str(self._root).rstrip("/") + "/"
        if not path.startswith(base):
            raise InvalidArtifactKey(
                uri,
                f"it is outside this store's root {self._root}",
                "open the store whose root contains the URI's path",
                kind="URI",
            )
        return self._checked(path[len(base) :])

    # -- writes ---------------------------------------------------------------

    def put_file(self, key: str, src: Path, *, durable: bool = True) -> ArtifactInfo:
        """Copy the regular file ``src`` into the store under ``key``.

        The kernel copies the bytes and a second thread hashes them, so this runs near
        the speed of ``cp`` (see ``_fastcopy``). Other readable files (a FIFO, a device)
        are streamed instead.
        """
        key = self._checked(key)
        src = Path(src)
        with caller_path(src, "read the upload source", _UPLOAD_FIX):
            source = src.open("rb")  # A directory fails here with IsADirectoryError.
            regular = stat_mode.S_ISREG(os.fstat(source.fileno()).st_mode)
        with source:
            if not regular:
                read = guarded_reader(source.read, source_stream_error(key))
                return self._publish(key, read, durable=durable)
            uri = self.uri_for(key)
            with writing_artifact(key, uri):
                with atomic_target(self._path(key), durable=durable) as pending:
                    written = copy_fd_hashing(
                        source.fileno(),
                        pending.file.fileno(),
                        read_error=source_stream_error(key),
                        before_join=pending.sync,
                    )
                return self._record(key, uri, written, pending)

    def put_stream(self, key: str, stream: BinaryIO) -> ArtifactInfo:
        """Store everything read from ``stream`` under ``key``, 1 MiB at a time."""
        key = self._checked(key)
        return self._publish(key, guarded_reader(stream.read, source_stream_error(key)))

    def _publish(self, key: str, read: _Reader, *, durable: bool = True) -> ArtifactInfo:
        uri = self.uri_for(key)
        with writing_artifact(key, uri):
            with atomic_target(self._path(key), durable=durable) as pending:
                written = copy_hashing(read, pending.file.write)
            return self._record(key, uri, written, pending)

    def _record(self, key: str, uri: str, written: Written, pending: PendingWrite) -> ArtifactInfo:
        """Write the digest record of a just-published artifact (inside ``writing_artifact``)."""
        assert pending.stat is not None, "atomic_target publishes only after stat"
        self._index.write(DigestRecord.for_file(key, written.sha256, pending.stat))
        return ArtifactInfo(uri=uri, key=key, sha256=written.sha256, size=written.size)

    # -- reads ----------------------------------------------------------------

    def get_file(self, key: str, dest: Path, *, expected_sha256: str | None = None) -> ArtifactInfo:
        """Copy the artifact to ``dest`` atomically, verifying its sha256 on the way.

        The digest checked is ``expected_sha256`` when given, else the one recorded
        at write time, so corruption on disk is caught even by callers that kept no
        digest. On a mismatch ``dest`` is left exactly as it was.
        """
        key = self._checked(key)
        expected = normalised_digest(key, expected_sha256)
        uri = self.uri_for(key)
        dest = Path(dest)
        with self._open_regular(key, uri) as (source, st):
            if expected is None:
                record = self._index.read(key)
                expected = record.sha256 if record and record.describes(key, st) else None
            fix = "pass a file path (not a directory) in a writable directory"
            with caller_path(dest, "write the download target", fix):
                with atomic_target(dest) as pending:
                    written = copy_fd_hashing(
                        source.fileno(),
                        pending.file.fileno(),
                        read_error=stored_read_error(key, uri),
                        before_join=pending.sync,
                    )
                    if expected is not None and written.sha256 != expected:
                        raise ArtifactIntegrityError(key, uri, expected, written.sha256)
        return ArtifactInfo(uri=uri, key=key, sha256=written.sha256, size=written.size)

    @contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        """Open the artifact for streaming reads (not verified: use get_file for that)."""
        key = self._checked(key)
        with self._open_regular(key, self.uri_for(key)) as (source, _st):
            yield source

    def exists(self, key: str) -> bool:
        """Whether ``key`` holds a complete artifact (in-flight writes do not count)."""
        key = self._checked(key)
        try:
            with reading_artifact(key, self.uri_for(key)):
                return stat_mode.S_ISREG(os.lstat(self._path(key)).st_mode)
        except ArtifactNotFound:
            return False

    def stat(self, key: str) -> ArtifactInfo:
        """Describe the artifact from its digest record, without reading its bytes."""
        key = self._checked(key)
        uri = self.uri_for(key)
        path = self._path(key)
        with reading_artifact(key, uri):
            st = os.lstat(path)
        if not stat_mode.S_ISREG(st.st_mode):
            raise ArtifactNotFound(key, uri)
        return self._describe(key, uri, st)

    def list(self, prefix: str = "") -> Iterator[ArtifactInfo]:
        """Yield artifacts whose keys start with ``prefix`` (a string prefix), in key order.

        The prefix is checked at the call, not at the first ``next()``, so a bad
        prefix fails where it was written.
        """
        validate_prefix(prefix)
        return self._describe_all(prefix)

    def _describe_all(self, prefix: str) -> Iterator[ArtifactInfo]:
        for key, path in self._walk(prefix):
            uri = _file_uri(path)
            try:
                with reading_artifact(key, uri):
                    st = os.lstat(path)
                yield self._describe(key, uri, st)
            except ArtifactNotFound:
                continue  # Deleted while we were listing.

    # -- deletes --------------------------------------------------------------

    def delete(self, key: str) -> None:
        """Remove the artifact; a missing key is fine, so cleanup can be retried."""
        self._delete(self._checked(key))

    def delete_prefix(self, prefix: str) -> int:
        """Remove every artifact under a non-empty ``prefix``; return how many were removed."""
        if prefix == "":
            raise InvalidArtifactKey(
                prefix,
                "an empty prefix would delete every artifact in the store",
                "pass a non-empty prefix such as 'runs/<run-id>/'; to wipe a local store, "
                "remove its directory",
                kind="prefix",
            )
        validate_prefix(prefix)
        keys = [key for key, _path in self._walk(prefix)]
        return sum(1 for key in keys if self._delete(key))

    def cleanup_temp(self, older_than_seconds: float = 0.0) -> int:
        """Remove temp files left by crashed writers; return how many were removed.

        Call it when no writer is running (e.g. at engine start), or pass a grace
        period longer than any write takes so live writes are not disturbed.
        """
        cutoff = time.time() - older_than_seconds
        removed = 0
        fix = "check the store directory's permissions"
        with caller_path(self._root, "clean temporary files under", fix):
            for directory, _dirs, files in os.walk(self._root):
                for name in files:
                    if not name.startswith(TEMP_PREFIX):
                        continue
                    path = os.path.join(directory, name)
                    try:
                        if os.lstat(path).st_mtime <= cutoff:
                            os.unlink(path)
                            removed += 1
                    except FileNotFoundError:
                        continue  # Its writer finished or another cleaner got there first.
        return removed

    # -- internals ------------------------------------------------------------

    def _checked(self, key: str) -> str:
        validate_key(key)
        for segment in key.split("/"):
            if is_reserved_name(segment):
                raise InvalidArtifactKey(
                    key,
                    f"its segment {segment!r} starts with '.kubepipe', which the local store "
                    "reserves for its own bookkeeping",
                    "rename that segment",
                )
        return key

    def _path(self, key: str) -> Path:
        return self._root.joinpath(*self._checked(key).split("/"))

    @contextmanager
    def _open_regular(self, key: str, uri: str) -> Iterator[tuple[BinaryIO, os.stat_result]]:
        """Open a stored artifact, refusing anything that is not a regular file."""
        with reading_artifact(key, uri):
            fd = os.open(self._path(key), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            try:
                st = os.fstat(fd)
            except BaseException:
                os.close(fd)
                raise
        if not stat_mode.S_ISREG(st.st_mode):
            os.close(fd)
            raise ArtifactNotFound(key, uri)
        with os.fdopen(fd, "rb") as source:
            yield source, st

    def _describe(self, key: str, uri: str, st: os.stat_result) -> ArtifactInfo:
        record = self._index.read(key)
        if record is not None and record.describes(key, st):
            return ArtifactInfo(uri=uri, key=key, sha256=record.sha256, size=record.size)
        return self._recover_digest(key, uri)

    def _recover_digest(self, key: str, uri: str) -> ArtifactInfo:
        """Hash a file whose record is missing or stale (after a crash or an outside edit)."""
        with self._open_regular(key, uri) as (source, st):
            read = guarded_reader(source.read, stored_read_error(key, uri))
            written = copy_hashing(read, lambda _chunk: None)
        # A read-only store still answers; it just hashes again next time.
        with suppress(OSError):
            self._index.write(DigestRecord.for_file(key, written.sha256, st))
        return ArtifactInfo(uri=uri, key=key, sha256=written.sha256, size=written.size)

    def _delete(self, key: str) -> bool:
        path = self._path(key)
        with writing_artifact(key, self.uri_for(key)):
            try:
                if not stat_mode.S_ISREG(os.lstat(path).st_mode):
                    return False  # A directory of other keys, not an artifact.
                os.unlink(path)
            except (FileNotFoundError, NotADirectoryError):
                return False
            self._index.remove(key)
        self._prune_empty_parents(path.parent)
        return True

    def _prune_empty_parents(self, directory: Path) -> None:
        """Remove directories emptied by a delete, so deleted runs leave no husks."""
        while directory != self._root and self._root in directory.parents:
            try:
                os.rmdir(directory)
            except OSError:
                return  # Not empty (or already gone): the usual way out.
            directory = directory.parent

    def _walk(self, prefix: str) -> Iterator[tuple[str, Path]]:
        dir_part = prefix.rpartition("/")[0]
        if any(is_reserved_name(segment) for segment in dir_part.split("/")):
            return  # Bookkeeping is not made of artifacts.
        start = self._root.joinpath(*dir_part.split("/")) if dir_part else self._root
        yield from self._walk_dir(start, dir_part + "/" if dir_part else "", prefix)

    def _walk_dir(self, directory: Path, base: str, prefix: str) -> Iterator[tuple[str, Path]]:
        """Walk in S3 key order: a directory sorts as its name plus '/'."""
        try:
            with os.scandir(directory) as scan:
                entries = [entry for entry in scan if not is_reserved_name(entry.name)]
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise ArtifactStoreError(
                f"cannot list {str(directory)!r} in the artifact store: {exc.strerror or exc}. "
                "Fix: check the store directory's permissions"
            ) from exc
        named = []
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                named.append((base + entry.name + "/", entry))
            elif entry.is_file(follow_symlinks=False):
                named.append((base + entry.name, entry))
        named.sort(key=lambda item: item[0])
        for key, entry in named:
            if key.endswith("/"):
                if key.startswith(prefix) or prefix.startswith(key):
                    yield from self._walk_dir(Path(entry.path), key, prefix)
            elif key.startswith(prefix) and _is_valid_key(key):
                yield key, Path(entry.path)


def _file_uri(path: Path) -> str:
    return ParsedUri("file", "/", str(path).lstrip("/")).uri


def _is_valid_key(key: str) -> bool:
    """Files put there by hand with unsafe names cannot be addressed, so are not listed."""
    try:
        validate_key(key)
    except InvalidArtifactKey:
        return False
    return True
