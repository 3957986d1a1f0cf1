"""Copying files into and out of a step's filesystem view, the way a pod's volumes would.

Inputs are copied (not linked) so a step that edits its input never changes the artifact it came
from. Outputs are files of the step: the runner, which may read what the step cannot, must never
be led elsewhere by a link the step made. So an output is opened one path component at a time,
each relative to the one before and with O_NOFOLLOW, starting from the runner's handle on the
step's root (race-free: nothing is checked by path and then opened again). A symlink on the way
to an output, or an output that is one, is refused. Inside an output directory, links are copied
as links, never read: whoever stores the copy keeps those that stay inside it (a relative link
to a sibling file) and never follows the others (`artifact_store.pack_path` refuses them,
`engine.pods` leaves them out of an `archive: none` upload). Special files (fifos, sockets,
devices) are skipped, since reading a fifo would block the runner forever.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import shutil
import stat
from pathlib import Path
from urllib.parse import quote

__all__ = [
    "OutputRefused",
    "copy_below",
    "copy_in",
    "copy_out",
    "open_output_base",
    "output_name",
    "safe_name",
]


def safe_name(key: str, limit: int = 80) -> str:
    """A file-name-safe, collision-free name for a step key (cgroups, probes)."""
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", key).strip("._")[:limit] or "step"
    digest = hashlib.sha1(key.encode()).hexdigest()[:10]
    return f"{readable}-{digest}"


def output_name(container_path: str) -> str:
    """The name under workdir/outputs for a container path; quoting keeps it injective and flat."""
    return quote(container_path.lstrip("/"), safe="")


def copy_in(source: Path, dest: Path) -> None:
    """Place an input file or directory at `dest`; raises FileNotFoundError if it is absent."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, dest, symlinks=True, dirs_exist_ok=True)
    else:
        shutil.copy2(source, dest)


class OutputRefused(Exception):
    """A declared output leads out of the step through a symlink; nothing of it was read."""

    def __init__(self, container_path: str, link: str, target: str, why: str) -> None:
        self.container_path = container_path
        super().__init__(
            f"{container_path} was not collected: {link} is a symbolic link to {target!r}, {why}. "
            "Outputs are read without following links that leave the output, so a step cannot "
            "make the engine read files that are not its own. Fix: write the file itself (cp -L), "
            "or make the link relative and point to a file inside the output directory"
        )


_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # a fifo never blocks


def _split(host: str, container_path: str) -> tuple[str, list[str]]:
    """The runner's trusted handle on the step's view (`host` minus the container path's tail
    that it ends with), and the components below it that the step controls."""
    parts = [p for p in posixpath.normpath(container_path).split("/") if p]
    host_parts = posixpath.normpath(host).split("/")
    k = len(parts)
    while k and host_parts[-k:] != parts[-k:]:
        k -= 1
    return "/".join(host_parts[: len(host_parts) - k]) or "/", parts[len(parts) - k :]


def copy_out(source: str, container_path: str, dest: Path) -> Path | None:
    """Copy the step's output `container_path`, visible to the runner at `source`, to `dest`.

    Returns None when it does not exist or is a special file.

    Raises:
        OutputRefused: a symlink leads out of the output (see the module docstring).
        OSError: the output could not be read or written.
    """
    fd, parts = open_output_base(source, container_path)
    return copy_below(fd, parts, container_path, dest)


def open_output_base(
    source: str, container_path: str, mount: tuple[str, str] | None = None
) -> tuple[int, list[str]]:
    """The runner's handle on the step's view for one output, and the components below it.

    Opened by the runner itself; `copy_below` may then run with the step's own file rights
    (which could not traverse the engine's folders that hold the view). `mount`, when known,
    is (host path of the mount the output is on, the rest of its path): the handle is then
    that mount's root, however the names along the way happen to match.
    """
    if mount is not None:
        base, rest = mount
        parts = [p for p in posixpath.normpath(rest or "/").split("/") if p]
    else:
        base, parts = _split(source, container_path)
    return os.open(base, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC), parts


def copy_below(
    fd: int,
    parts: list[str],
    container_path: str,
    dest: Path,
    unreadable: list[str] | None = None,
) -> Path | None:
    """`copy_out` from an opened base (`open_output_base`); closes `fd`.

    Inside an output directory, entries the reader may not open (run with the step's rights:
    files the step itself could not read, such as /etc/shadow under /etc) are left out and
    their paths appended to `unreadable`; without a list they raise PermissionError.
    """
    above = posixpath.normpath(container_path).split("/")[: -len(parts) or None]
    try:
        for i, name in enumerate(parts[:-1]):
            kind = _lstat_kind(fd, name)
            if kind is not None and stat.S_ISLNK(kind):
                shown = "/".join([*above, *parts[: i + 1]])
                raise _refused_link(container_path, fd, name, shown, "on the way to the output")
            if kind is None or not stat.S_ISDIR(kind):
                return None
            child = os.open(name, _DIR, dir_fd=fd)
            os.close(fd)
            fd = child
        return _copy_object(fd, parts[-1] if parts else ".", container_path, dest, unreadable)
    finally:
        os.close(fd)


def _lstat_kind(dir_fd: int, name: str) -> int | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None


def _refused_link(
    container_path: str, dir_fd: int, name: str, shown: str, why: str
) -> OutputRefused:
    try:
        target = os.readlink(name, dir_fd=dir_fd)
    except OSError:
        target = "?"
    return OutputRefused(container_path, shown, target, why)


def _copy_object(
    dir_fd: int, name: str, container_path: str, dest: Path, unreadable: list[str] | None = None
) -> Path | None:
    mode = _lstat_kind(dir_fd, name)
    if mode is None:
        return None
    if stat.S_ISLNK(mode):
        raise _refused_link(
            container_path, dir_fd, name, container_path, "and an output must not be a link"
        )
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        return None
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    elif dest.exists():
        shutil.rmtree(dest)
    if stat.S_ISREG(mode):
        return dest if _copy_file(dir_fd, name, dest) else None
    fd = os.open(name, _DIR, dir_fd=dir_fd)
    try:
        _copy_tree(fd, dest, unreadable, container_path)
    finally:
        os.close(fd)
    return dest


def _copy_file(dir_fd: int, name: str, dest: Path) -> bool:
    """Copy a regular file opened without following links; False if it was swapped meanwhile."""
    fd = os.open(name, _FILE, dir_fd=dir_fd)
    with open(fd, "rb", closefd=True) as src:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return False
        with open(dest, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
    os.chmod(dest, stat.S_IMODE(st.st_mode) & 0o777)
    os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns))
    return True


def _copy_tree(
    dir_fd: int, dest: Path, unreadable: list[str] | None = None, shown: str = ""
) -> None:
    dest.mkdir()
    for name in sorted(os.listdir(dir_fd)):
        mode = _lstat_kind(dir_fd, name)
        if mode is None:
            continue
        try:
            if stat.S_ISDIR(mode):
                child = os.open(name, _DIR, dir_fd=dir_fd)
                try:
                    _copy_tree(child, dest / name, unreadable, f"{shown}/{name}")
                finally:
                    os.close(child)
            elif stat.S_ISREG(mode):
                _copy_file(dir_fd, name, dest / name)
            elif stat.S_ISLNK(mode):
                os.symlink(os.readlink(name, dir_fd=dir_fd), dest / name)  # as a link, unread
        except PermissionError:
            if unreadable is None:
                raise
            unreadable.append(f"{shown}/{name}")
    os.chmod(dest, stat.S_IMODE(os.fstat(dir_fd).st_mode) & 0o777)  # last: it may forbid writes
