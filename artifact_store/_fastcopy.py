"""File-to-file copies at kernel speed, hashed on a second thread from the bytes written.

Why this exists: a Python read/write loop moves every byte through user space twice and
hashes it on the same thread, so a local ``put_file`` ran at a fraction of ``cp``. Here the
kernel moves the bytes (``copy_file_range``, else ``sendfile``, else a ``readinto`` loop
over one reused buffer) while a second thread hashes what has landed in the destination.
``hashlib`` releases the GIL for large buffers, so the copy, the hash and the final fsync
overlap, and memory stays at one buffer per thread whatever the file size.

The digest is computed from the *destination* file, which only the store writes (a
temporary file created with ``O_EXCL``), so it describes exactly the bytes stored even if
the source changes during the copy. The destination descriptor must therefore be readable
(``_atomic`` opens temporary files ``O_RDWR``).

Errors: an ``OSError`` that can only come from writing (no space, quota, file too large,
read-only filesystem), or from reading the destination back, propagates unchanged so the
caller's context for the destination translates it; any other ``OSError`` of the copy is
passed to ``read_error``, which builds the error for the source side.
"""

from __future__ import annotations

import errno
import hashlib
import os
import queue
import threading
from collections.abc import Callable

from artifact_store._atomic import Written
from artifact_store.errors import ArtifactStoreError

__all__ = ["BUFFER_SIZE", "COPY_CHUNK", "copy_fd_hashing"]

COPY_CHUNK = 8 * 1024 * 1024
"""Bytes per kernel copy call: large enough that syscalls are noise, small enough that the
hash starts right behind the copy. The kernel moves them without a user-space buffer."""

BUFFER_SIZE = 2 * 1024 * 1024
"""The one buffer each thread holds (hashing reads, and the read/write fallback): big
enough that ``hashlib`` releases the GIL and per-call costs vanish."""

_WRITE_SIDE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}
# A kernel copy refused for these reasons is retried by the next, plainer method.
_UNSUPPORTED = {
    errno.EXDEV,
    errno.ENOSYS,
    errno.EINVAL,
    errno.EOPNOTSUPP,
    errno.ENOTSUP,
    errno.EPERM,
    errno.EBADF,
}


class _DestinationHasher:
    """Hashes the destination file behind the copy, one ``(offset, length)`` span at a time."""

    def __init__(self, dst_fd: int) -> None:
        self._fd = dst_fd
        self._spans: queue.SimpleQueue[tuple[int, int] | None] = queue.SimpleQueue()
        self._digest = hashlib.sha256()
        self._error: BaseException | None = None
        self._abandoned = False
        self._thread = threading.Thread(target=self._run, name="kubepipe-hash", daemon=True)
        self._thread.start()

    def copied(self, offset: int, length: int) -> None:
        """Say that ``length`` bytes at ``offset`` are now in the destination."""
        if self._error is not None:
            raise self._error  # Stop copying as soon as hashing cannot finish.
        self._spans.put((offset, length))

    def finish(self) -> str:
        """Wait for the hash to catch up and return it; re-raise what stopped it."""
        self._spans.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._digest.hexdigest()

    def abandon(self) -> None:
        """Stop the thread after a failed copy (its own error, if any, is secondary)."""
        self._abandoned = True  # Skip what is still queued: nobody wants that digest now.
        self._spans.put(None)
        self._thread.join()

    def _run(self) -> None:
        buffer = bytearray(BUFFER_SIZE)
        view = memoryview(buffer)
        try:
            while (span := self._spans.get()) is not None:
                if self._abandoned:
                    continue  # Drain to the sentinel without hashing.
                offset, length = span
                while length:
                    got = os.preadv(self._fd, [view[: min(length, BUFFER_SIZE)]], offset)
                    if got == 0:
                        raise OSError(errno.EIO, "the destination file shrank while being hashed")
                    self._digest.update(view[:got])
                    offset += got
                    length -= got
        except BaseException as exc:  # Handed to the copying thread, which raises it.
            self._error = exc
            while self._spans.get() is not None:
                pass


class _Copier:
    """Moves bytes from the source's position to the destination's with the best method the
    kernel accepts, falling back once per refusal (another filesystem, a special file...)."""

    def __init__(self, src_fd: int, dst_fd: int) -> None:
        self._src = src_fd
        self._dst = dst_fd
        self._methods: list[Callable[[int], int]] = []
        if hasattr(os, "copy_file_range"):
            self._methods.append(self._copy_file_range)
        if hasattr(os, "sendfile") and os.uname().sysname == "Linux":
            self._methods.append(self._sendfile)  # Linux sendfile writes to any file.
        self._methods.append(self._read_write)
        self._buffer: memoryview | None = None
        self._moved = False

    def copy(self, count: int) -> int:
        """Copy up to ``count`` bytes; return how many (0 at the source's end)."""
        while True:
            try:
                got = self._methods[0](count)
            except OSError as exc:
                if exc.errno not in _UNSUPPORTED or len(self._methods) == 1:
                    raise
                self._methods.pop(0)
                continue
            if got == 0 and not self._moved and len(self._methods) > 1:
                # Pseudo-files (procfs, sysfs) claim size 0 to kernel copies; read them instead.
                self._methods.pop(0)
                continue
            self._moved = True
            return got

    def _copy_file_range(self, count: int) -> int:
        return os.copy_file_range(self._src, self._dst, count)

    def _sendfile(self, count: int) -> int:
        return os.sendfile(self._dst, self._src, None, count)

    def _read_write(self, count: int) -> int:
        if self._buffer is None:
            self._buffer = memoryview(bytearray(BUFFER_SIZE))
        got = os.readv(self._src, [self._buffer[: min(count, BUFFER_SIZE)]])
        done = 0
        while done < got:
            done += os.write(self._dst, self._buffer[done:got])
        return got


def copy_fd_hashing(
    src_fd: int,
    dst_fd: int,
    *,
    read_error: Callable[[OSError], ArtifactStoreError],
    before_join: Callable[[], object] | None = None,
) -> Written:
    """Copy ``src_fd`` from its position to its end into ``dst_fd`` (readable, at offset 0).

    ``before_join`` runs after the last byte is copied and before waiting for the hash,
    so an fsync there overlaps the hashing that is still to do. Returns the sha256 and
    size of the bytes written. On failure the destination holds a partial copy: callers
    write into a temporary file that is discarded.
    """
    hasher = _DestinationHasher(dst_fd)
    copier = _Copier(src_fd, dst_fd)
    offset = 0
    try:
        while True:
            try:
                got = copier.copy(COPY_CHUNK)
            except OSError as exc:
                if exc.errno in _WRITE_SIDE:
                    raise
                raise read_error(exc) from exc
            if got == 0:
                break
            hasher.copied(offset, got)
            offset += got
        if before_join is not None:
            before_join()
    except BaseException:
        hasher.abandon()
        raise
    return Written(hasher.finish(), offset)
