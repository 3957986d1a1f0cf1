"""Atomic, bounded-memory file writes shared by the local store and the archive code.

A write goes to a temporary file in the destination's own directory (so the final
``os.replace`` is a same-filesystem rename, atomic on POSIX), is fsynced, and only
then renamed over the destination. Temporary files are opened read-write so that a
writer may hash what it wrote by reading it back (``_fastcopy``). Temporary names start with ``TEMP_PREFIX`` so that
listings can ignore them and ``cleanup_temp`` can find what a crashed writer left.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from artifact_store.base import CHUNK_SIZE
from artifact_store.errors import ArtifactStoreError

RESERVED_PREFIX = ".kubepipe"
TEMP_PREFIX = ".kubepipe-tmp-"


@dataclass(frozen=True)
class Written:
    """Facts about bytes just copied: their digest and length."""

    sha256: str
    size: int


def copy_hashing(read: Callable[[int], bytes | None], write: Callable[[bytes], object]) -> Written:
    """Copy chunk by chunk until EOF, hashing on the way so no second pass is needed."""
    digest = hashlib.sha256()
    size = 0
    while True:
        chunk = read(CHUNK_SIZE)
        if chunk is None:
            raise ArtifactStoreError(
                "the source stream is non-blocking and had no data ready. Fix: pass a "
                "blocking binary stream (a file opened with 'rb', or io.BytesIO)"
            )
        if not chunk:
            return Written(digest.hexdigest(), size)
        digest.update(chunk)
        size += len(chunk)
        write(chunk)


def hash_file(path: Path) -> Written:
    """Hash a file in bounded chunks (used only to recover missing digests)."""
    with open(path, "rb") as src:
        return copy_hashing(src.read, lambda _chunk: None)


def _create_temp(directory: Path) -> tuple[BinaryIO, Path]:
    # os.open with mode 0o666 lets the process umask decide permissions, as for any
    # ordinary file; tempfile.mkstemp would force 0o600. Missing parents are created,
    # and created again if a concurrent delete pruned them as empty in between.
    for attempt in range(5):
        path = directory / f"{TEMP_PREFIX}{secrets.token_hex(8)}"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except FileNotFoundError:
            if attempt == 4:
                raise
            directory.mkdir(parents=True, exist_ok=True)
            continue
        return os.fdopen(fd, "wb"), path
    raise FileExistsError(f"could not create a unique temporary file in {directory}")


@dataclass
class PendingWrite:
    """The open temp file of an atomic write; ``stat`` is filled in once it is published.

    The stat is taken from the temp file just before the rename, which keeps its inode
    and mtime, so callers can record exactly which file their digest describes.
    """

    file: BinaryIO
    durable: bool = True
    stat: os.stat_result | None = None
    synced: bool = False

    def sync(self) -> None:
        """Flush now (fsync if the write is durable) instead of when the block exits.

        Lets a writer overlap the flush with other work, such as finishing a digest on
        another thread; ``atomic_target`` then does not flush a second time.
        """
        self.file.flush()
        if self.durable:
            os.fsync(self.file.fileno())
        self.synced = True


@contextmanager
def atomic_target(target: Path, *, durable: bool = True) -> Iterator[PendingWrite]:
    """Yield a temp file that replaces ``target`` when the block exits cleanly.

    On any exception the temp file is removed and ``target`` is left as it was.
    """
    handle, temp = _create_temp(target.parent)
    pending = PendingWrite(handle, durable)
    try:
        with handle:
            yield pending
            if not pending.synced:
                pending.sync()
            pending.stat = os.fstat(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        _unlink_quietly(temp)
        raise
    if durable:
        fsync_dir(target.parent)


def fsync_dir(directory: Path) -> None:
    """Persist a rename: without this a power cut can forget the new directory entry."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # Some filesystems cannot fsync directories; the rename is still atomic.
    finally:
        os.close(fd)


def _unlink_quietly(path: Path) -> None:
    with suppress(OSError):
        os.unlink(path)


def is_reserved_name(name: str) -> bool:
    """Names the local store keeps for itself: temp files and its metadata directory."""
    return name.startswith(RESERVED_PREFIX)
