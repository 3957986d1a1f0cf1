"""Translate ``OSError`` into the store's errors at the boundary (httpx ``map_exceptions`` style).

Which error an ``OSError`` becomes depends on what was being done: a missing path on a
read is a missing artifact, but on a write it is a clash between keys, and on the
caller's own source or destination file it is the caller's path that needs fixing.
Each context manager below names that situation once, so store methods stay free of
``except`` ladders and every message names the key or path and the fix.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from artifact_store.errors import ArtifactNotFound, ArtifactStoreError

_MISSING = (FileNotFoundError, NotADirectoryError, IsADirectoryError)


@contextmanager
def reading_artifact(key: str, uri: str) -> Iterator[None]:
    """Map errors while reading the stored artifact ``key``.

    A symlink (refused with ELOOP by ``O_NOFOLLOW``) counts as missing: only regular
    files written by the store are artifacts.
    """
    try:
        yield
    except _MISSING as exc:
        raise ArtifactNotFound(key, uri) from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ArtifactNotFound(key, uri) from exc
        raise _io_error(key, uri, exc) from exc


@contextmanager
def writing_artifact(key: str, uri: str) -> Iterator[None]:
    """Map errors while writing or deleting the stored artifact ``key``."""
    try:
        yield
    except (NotADirectoryError, FileExistsError, IsADirectoryError) as exc:
        raise ArtifactStoreError(
            f"cannot write artifact {key!r} ({uri}): a directory store cannot hold both a "
            f"key and other keys below it (such as {key!r} and '{key}/...'), and one of "
            "them already exists. Fix: choose keys where no key is a prefix-directory of another"
        ) from exc
    except OSError as exc:
        raise _io_error(key, uri, exc) from exc


@contextmanager
def caller_path(path: Path, action: str, fix: str) -> Iterator[None]:
    """Map errors on the caller's own file (an upload source or a download target)."""
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or exc
        raise ArtifactStoreError(f"cannot {action} {str(path)!r}: {reason}. Fix: {fix}") from exc


def guarded_reader(
    read: Callable[[int], bytes | None], on_error: Callable[[OSError], ArtifactStoreError]
) -> Callable[[int], bytes | None]:
    """Wrap a stream's ``read`` so its failures are reported for the right side of a copy.

    During a copy both ends can fail with ``OSError``; translating the reading end's
    errors here means an enclosing context for the writing end cannot misattribute them.
    """

    def read_guarded(size: int) -> bytes | None:
        try:
            return read(size)
        except OSError as exc:
            raise on_error(exc) from exc

    return read_guarded


def source_stream_error(key: str) -> Callable[[OSError], ArtifactStoreError]:
    """Build the error for a caller's upload stream that failed mid-way."""

    def build(exc: OSError) -> ArtifactStoreError:
        return ArtifactStoreError(
            f"reading the source stream for artifact {key!r} failed: {exc.strerror or exc}; "
            "nothing was stored. Fix: check the stream's producer and retry"
        )

    return build


def stored_read_error(key: str, uri: str) -> Callable[[OSError], ArtifactStoreError]:
    """Build the error for a stored artifact that failed to read mid-way."""
    return lambda exc: _io_error(key, uri, exc)


def _io_error(key: str, uri: str, exc: OSError) -> ArtifactStoreError:
    if isinstance(exc, PermissionError):
        return ArtifactStoreError(
            f"permission denied for artifact {key!r} ({uri}). Fix: make the store "
            "directory readable and writable by this user"
        )
    return ArtifactStoreError(
        f"I/O error on artifact {key!r} ({uri}): {exc.strerror or exc}. Fix: check the "
        "disk behind the store (free space, mount, permissions) and retry"
    )
