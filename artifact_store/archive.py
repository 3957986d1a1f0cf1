"""Argo-compatible tar.gz packing of file and directory artifacts.

Argo saves an output path by tarring it under its base name and gzipping the tar;
it loads an input by extracting to a temporary directory and renaming the single
top-level entry to the input path (or the whole directory, when the archive holds
several top-level entries). ``pack_path`` and ``unpack_to`` follow the same
convention, so archives move both ways between kubepipe and a real Argo cluster.

Packing is deterministic (sorted entries, mtime 0, uid/gid 0, no owner names, gzip
header without name or time): the same tree always gives the same bytes, hence the
same sha256, which lets identical outputs be recognised across runs.
"""

from __future__ import annotations

import gzip
import os
import stat as stat_mode
import tarfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from artifact_store._atomic import atomic_target
from artifact_store._safe_extract import extract_safely, is_inside, link_stays_inside
from artifact_store.errors import ArchiveError

__all__ = ["is_tar_gz", "pack_path", "unpack_to"]

_GZIP_LEVEL = 6  # Argo's default (gzip.DefaultCompression); 9 costs much more CPU for little.


def pack_path(path: Path, dest_tgz: Path) -> None:
    """Write ``path`` (a file or a directory tree) to ``dest_tgz`` as a deterministic tar.gz.

    Symlinks are stored as links, and must stay inside the packed tree: a link to
    ``/etc`` or ``../..`` would be refused by every consumer, so it is refused here,
    where the step that made it can still be named. The archive appears atomically.

    Raises:
        ArchiveError: if ``path`` is missing, is a special file, or holds an escaping link.
    """
    source = Path(path)
    with _os_errors(f"cannot pack {str(source)!r}", "check that the path exists and is readable"):
        top_stat = os.stat(source)  # A top-level symlink is packed as what it points to.
        top_name = source.name if source.name not in ("", ".", "..") else source.resolve().name
        if not stat_mode.S_ISDIR(top_stat.st_mode) and not stat_mode.S_ISREG(top_stat.st_mode):
            raise ArchiveError(_special_file_message(source))
        if stat_mode.S_ISDIR(top_stat.st_mode) and is_inside(
            os.path.realpath(dest_tgz), os.path.realpath(source)
        ):
            raise ArchiveError(
                f"cannot pack {str(source)!r} into {str(dest_tgz)!r}: the archive would be inside "
                "the directory being packed. Fix: write the archive elsewhere"
            )
        if not top_name:
            raise ArchiveError(
                f"cannot pack {str(source)!r}: it has no name to store it under. "
                "Fix: pack a named directory, not the filesystem root"
            )
        with atomic_target(Path(dest_tgz)) as pending:
            with _deterministic_tar(pending.file) as tar:
                if stat_mode.S_ISDIR(top_stat.st_mode):
                    _add_tree(tar, source, top_name, os.path.realpath(source), [])
                else:
                    _add_regular(tar, source, top_name, top_stat)


def unpack_to(tgz: Path, dest: Path) -> None:
    """Extract ``tgz`` to ``dest`` the way Argo loads an input artifact.

    A single top-level entry becomes ``dest`` itself (a file or a directory);
    several become the contents of directory ``dest``. Nothing is written outside
    ``dest``: members with absolute paths or ``..``, links that lead outside, and
    device files make the whole archive be refused, and ``dest`` is only created
    once everything was extracted.

    Raises:
        ArchiveError: if ``tgz`` is not a gzip-compressed tar, is unsafe, or ``dest``
            already exists and is not an empty directory.
    """
    archive, target = Path(tgz), Path(dest)
    if os.path.lexists(target) and not _is_empty_dir(target):
        raise ArchiveError(
            f"cannot unpack {str(archive)!r} into {str(target)!r}: it already exists and is not an "
            "empty directory. Fix: remove it first or choose a new destination"
        )
    action = f"cannot unpack {str(archive)!r} into {str(target)!r}"
    with _os_errors(action, "check both paths and free space"):
        with _opened_tar(archive) as tar:
            extract_safely(tar, archive, target)


def is_tar_gz(path: Path) -> bool:
    """Whether ``path`` is a gzip-compressed tar with at least one member (Argo's test).

    Raises:
        ArchiveError: if ``path`` cannot be read at all (missing, no permission).
    """
    candidate = Path(path)
    if candidate.is_dir():
        return False
    with _os_errors(f"cannot read {str(candidate)!r}", "pass an existing, readable file"):
        if not candidate.exists():
            raise FileNotFoundError(2, "No such file or directory")
    try:
        with tarfile.open(candidate, mode="r:gz") as tar:
            return tar.next() is not None
    except (tarfile.TarError, OSError, EOFError, zlib.error):
        return False


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and not any(path.iterdir())


@contextmanager
def _deterministic_tar(out: BinaryIO) -> Iterator[tarfile.TarFile]:
    # No file name and mtime 0 in the gzip header: otherwise the same tree packed
    # twice would differ in its first bytes.
    gzip_out = gzip.GzipFile(
        filename="", mode="wb", fileobj=out, mtime=0, compresslevel=_GZIP_LEVEL
    )
    with gzip_out as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            yield tar


@contextmanager
def _opened_tar(archive: Path) -> Iterator[tarfile.TarFile]:
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            yield tar
    except FileNotFoundError:
        raise
    except (tarfile.TarError, gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise ArchiveError(
            f"{str(archive)!r} is not a readable gzip-compressed tar ({exc}). Fix: check the "
            "artifact was saved with archive: tar (Argo's default), or save it with archive: none"
        ) from exc


@contextmanager
def _os_errors(action: str, fix: str) -> Iterator[None]:
    try:
        yield
    except ArchiveError:
        raise
    except OSError as exc:
        raise ArchiveError(f"{action}: {exc.strerror or exc}. Fix: {fix}") from exc


def _base_info(arcname: str, st: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(arcname)
    info.mode = st.st_mode & 0o777  # No setuid/setgid/sticky: artifacts are data.
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


_NO_FOLLOW_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_NO_FOLLOW_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _add_regular(
    tar: tarfile.TarFile, path: Path, arcname: str, st: os.stat_result, dir_fd: int | None = None
) -> None:
    """Add a file opened without following links (below the top, relative to its directory's
    descriptor), so a file swapped for a link after it was listed is refused, not followed."""
    flags = _NO_FOLLOW_FILE if dir_fd is not None else os.O_RDONLY | os.O_CLOEXEC
    fd = os.open(path.name if dir_fd is not None else path, flags, dir_fd=dir_fd)
    with open(fd, "rb", closefd=True) as data:
        opened = os.fstat(fd)
        if not stat_mode.S_ISREG(opened.st_mode) or opened.st_ino != st.st_ino:
            raise ArchiveError(f"cannot pack {str(path)!r}: it changed while it was being packed")
        info = _base_info(arcname, opened)
        info.size = opened.st_size
        tar.addfile(info, data)


def _add_tree(
    tar: tarfile.TarFile,
    directory: Path,
    arcname: str,
    top_real: str,
    rel: list[str],
    parent_fd: int | None = None,
) -> None:
    """Add a directory walked by descriptors: every entry below the top is opened relative to
    its directory with O_NOFOLLOW, so no link (or a directory swapped for one) is followed."""
    if parent_fd is None:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    else:
        fd = os.open(directory.name, _NO_FOLLOW_DIR, dir_fd=parent_fd)
    try:
        info = _base_info(arcname, os.fstat(fd))
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
        for name in sorted(os.listdir(fd)):
            child, child_arc = directory / name, f"{arcname}/{name}"
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if stat_mode.S_ISDIR(st.st_mode):
                _add_tree(tar, child, child_arc, top_real, [*rel, name], fd)
            elif stat_mode.S_ISREG(st.st_mode):
                _add_regular(tar, child, child_arc, st, fd)
            elif stat_mode.S_ISLNK(st.st_mode):
                _add_symlink(tar, child, child_arc, st, top_real, rel, fd)
            else:
                raise ArchiveError(_special_file_message(child))
    finally:
        os.close(fd)


def _add_symlink(
    tar: tarfile.TarFile,
    link: Path,
    arcname: str,
    st: os.stat_result,
    top_real: str,
    rel: list[str],
    dir_fd: int,
) -> None:
    target = os.readlink(link.name, dir_fd=dir_fd)
    if not link_stays_inside(rel, target) or not is_inside(os.path.realpath(link), top_real):
        raise ArchiveError(
            f"cannot pack symlink {str(link)!r} -> {target!r}: it points outside the directory "
            "being saved, so it would dangle (and be refused) wherever the artifact is loaded. "
            "Fix: copy the file it points to into the output, or make the link relative and "
            "internal"
        )
    info = _base_info(arcname, st)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    tar.addfile(info)


def _special_file_message(path: Path) -> str:
    return (
        f"cannot pack {str(path)!r}: it is not a regular file, directory or symlink (a device, "
        "socket or FIFO). Fix: write outputs as ordinary files"
    )
