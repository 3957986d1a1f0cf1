"""Copying files into and out of a step's filesystem view, the way a pod's volumes would.

Inputs are copied (not linked) so a step that edits its input never changes the artifact it came
from. Outputs are copied out without following symlinks, because a link inside a step points into
the step's filesystem, not the host's, and special files (fifos, sockets, devices) are skipped
since reading a fifo would block the runner forever.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
from pathlib import Path
from urllib.parse import quote

__all__ = ["copy_in", "copy_out", "output_name", "safe_name"]


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


def _copy_regular_only(src: str, dst: str) -> None:
    if stat.S_ISREG(os.lstat(src).st_mode):
        shutil.copy2(src, dst)


def copy_out(source: str, dest: Path) -> Path | None:
    """Copy a step's output at host-visible path `source` to `dest`; None when it does not exist."""
    try:
        mode = os.lstat(source).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    dest.parent.mkdir(parents=True, exist_ok=True)
    if stat.S_ISDIR(mode):
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(source, dest, symlinks=True, copy_function=_copy_regular_only)
    elif stat.S_ISLNK(mode):
        if dest.is_symlink() or dest.exists():
            dest.unlink()
        os.symlink(os.readlink(source), dest)
    elif stat.S_ISREG(mode):
        shutil.copy2(source, dest)
    else:
        return None
    return dest
