"""Extract a tar without letting any member write, or point, outside its destination.

Name checks alone are not enough: a link ``p -> .`` followed by ``x -> p/..`` passes
any purely textual test, yet ``x`` leads out of the tree. So, besides refusing
absolute names and ``..`` up front, every filesystem step is checked against where
it *really* resolves (``os.path.realpath``) at the moment it is taken, every link is
checked again once all members are in place, and everything happens in a temporary
directory that is renamed to the destination only when the whole archive passed.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from artifact_store._atomic import TEMP_PREFIX
from artifact_store.base import CHUNK_SIZE
from artifact_store.errors import ArchiveError


def link_stays_inside(parent: list[str], target: str) -> bool:
    """Whether a relative link in directory ``parent`` never climbs above the tree root.

    Checked on the text so that the link stays correct after the tree is renamed.
    """
    if target.startswith("/") or "\x00" in target:
        return False
    depth = list(parent)
    for segment in target.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not depth:
                return False
            depth.pop()
        else:
            depth.append(segment)
    return True


def extract_safely(tar: tarfile.TarFile, archive: Path, dest: Path) -> None:
    """Extract every member into ``dest`` (Argo's single-top-level-entry rule), or nothing."""
    members = [(member, _member_parts(member.name, archive)) for member in tar.getmembers()]
    members = [(member, parts) for member, parts in members if parts]  # Drop the "./" root entry.
    if not members:
        raise ArchiveError(
            f"{str(archive)!r} has no members. Fix: check that the producing step wrote its output"
        )
    tops = {parts[0] for _member, parts in members}
    single = len(tops) == 1
    dest.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=dest.parent))
    try:
        root = [next(iter(tops))] if single else []
        state = _Extraction(archive, scratch, os.path.realpath(scratch), root)
        for member, parts in members:
            state.extract(tar, member, parts)
        state.recheck_links()
        _place(scratch, dest, root)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def _place(scratch: Path, dest: Path, root: list[str]) -> None:
    if dest.is_dir() and not dest.is_symlink():
        dest.rmdir()  # Checked empty by the caller: replace it, as Argo would create it.
    if root:
        os.rename(scratch / root[0], dest)
        scratch.rmdir()
    else:
        os.rename(scratch, dest)


def _member_parts(name: str, archive: Path) -> list[str]:
    if "\x00" in name:
        raise _unsafe(archive, name, "its name contains a NUL byte")
    if name.startswith("/"):
        raise _unsafe(archive, name, "its path is absolute")
    parts = [segment for segment in name.split("/") if segment not in ("", ".")]
    if ".." in parts:
        raise _unsafe(archive, name, "its path contains '..'")
    return parts


def _unsafe(archive: Path, name: str, why: str) -> ArchiveError:
    return ArchiveError(
        f"refusing to unpack {str(archive)!r}: member {name!r} is unsafe ({why}); nothing was "
        "extracted. Fix: rebuild the archive with relative member paths and internal links "
        "(artifact_store.pack_path does)"
    )


def is_inside(real: str, root_real: str) -> bool:
    """Whether resolved path ``real`` is ``root_real`` or below it."""
    return real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)


@dataclass
class _Extraction:
    archive: Path
    scratch: Path
    scratch_real: str
    root: list[str]  # [top] when the single top-level entry will become dest, else [].
    files: set[tuple[str, ...]] = field(default_factory=set)
    links: list[tuple[Path, str]] = field(default_factory=list)

    def _refuse(self, name: str, why: str) -> ArchiveError:
        return _unsafe(self.archive, name, why)

    @property
    def root_real(self) -> str:
        return os.path.join(self.scratch_real, *self.root)

    def extract(self, tar: tarfile.TarFile, member: tarfile.TarInfo, parts: list[str]) -> None:
        name = member.name
        if member.isdir():
            self._ensure_dir(parts, name)
        elif member.isreg():
            source = tar.extractfile(member)
            assert source is not None, "regular members always have data"
            with source:
                self._write_file(parts, name, source, member.mode)
        elif member.issym():
            self._make_symlink(parts, name, member.linkname)
        elif member.islnk():
            self._copy_hardlink(parts, name, member.linkname)
        else:
            raise self._refuse(name, "it is a device, FIFO or other special file")

    def recheck_links(self) -> None:
        """Links made early can be redirected by later members; check where each ends up."""
        for link, name in self.links:
            if not is_inside(os.path.realpath(link), self.root_real):
                raise self._refuse(name, "its link target leads outside the destination")

    def _ensure_dir(self, parts: list[str], name: str) -> Path:
        """Create ``parts`` one level at a time, never stepping outside through a link.

        Each level is resolved and checked before anything is created inside it, so a
        directory is only ever made in a place already proven to be inside.
        """
        current = self.scratch
        for segment in parts:
            current = current / segment
            if not os.path.lexists(current):
                current.mkdir()
            elif not current.is_dir():
                raise self._refuse(name, "it needs a directory where the archive has a file")
            if not is_inside(os.path.realpath(current), self.root_real):
                raise self._refuse(name, "a link in its path leads outside the destination")
        return current

    def _new_entry(self, parts: list[str], name: str) -> Path:
        target = self._ensure_dir(parts[:-1], name) / parts[-1]
        if os.path.lexists(target):
            raise self._refuse(name, "the archive lists this path more than once")
        return target

    def _write_file(self, parts: list[str], name: str, source: IO[bytes], mode: int) -> None:
        target = self._new_entry(parts, name)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(target, flags, 0o600)
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(CHUNK_SIZE):
                out.write(chunk)
            os.fchmod(out.fileno(), mode & 0o777)
        self.files.add(tuple(parts))

    def _make_symlink(self, parts: list[str], name: str, target: str) -> None:
        if len(parts) <= len(self.root):
            raise self._refuse(name, "the archive's only top-level entry is a link")
        inner_parent = parts[len(self.root) : -1]
        escapes = self._refuse(name, f"its link target {target!r} leads outside the destination")
        if not link_stays_inside(inner_parent, target):
            raise escapes
        link = self._new_entry(parts, name)
        if not is_inside(os.path.realpath(os.path.join(link.parent, target)), self.root_real):
            raise escapes
        os.symlink(target, link)
        self.links.append((link, name))

    def _copy_hardlink(self, parts: list[str], name: str, target: str) -> None:
        # Copied, not linked: the copy cannot alias anything but a file this archive made.
        source_parts = tuple(_member_parts(target, self.archive))
        source = self.scratch.joinpath(*source_parts)
        known = source_parts in self.files
        if not known or not is_inside(os.path.realpath(source), self.root_real):
            raise self._refuse(
                name, f"it hard-links to {target!r}, which is not a file earlier in the archive"
            )
        mode = os.lstat(source).st_mode
        with open(source, "rb") as data:
            self._write_file(parts, name, data, mode)
