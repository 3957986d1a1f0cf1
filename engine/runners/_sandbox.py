"""The overlay filesystem view: the host's files as a read-only image, with private writes per step.

`OverlayLayout` plans, from the host's mount table, what the step's root looks like:

* `/` is an overlayfs with the host root as its lower layer and `<workdir>/upper` as its upper one,
  so every write lands in the step's own directory and reads see the host's programs.
* `/tmp` and `/var/tmp` are opaque in the upper layer: empty and private, as in a fresh container.
  Host paths the step must still see there (the interpreter's prefix, the engine's source tree)
  are bound back read-only.
* `/proc`, `/sys`, `/dev` (recursively, one mount call each) and other kernel filesystems are
  bind-mounted as they are (a pod shares the node's kernel too); `/dev/shm` is replaced by a
  private directory.
* Every other writable host mount (say `/home` or `/data`) gets its own overlay with a private
  upper layer, so writes there stay private as well; if that mount cannot be an overlay it is
  bound read-only rather than left writable.

`mount_all` performs the plan inside a fresh mount namespace (the caller must already have called
`unshare`), and returns `OverlayView`, which holds O_PATH descriptors on the overlays' roots. The
kernel keeps a detached overlay alive while a descriptor refers to it, so after the step's
namespace has died its outputs can still be read through `/proc/self/fd/N/...`, with whiteouts
and copy-ups already resolved by the kernel rather than re-implemented here.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import posixpath
import select
import shutil
import stat
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from engine.runners._files import copy_in

__all__ = [
    "HOME",
    "Libc",
    "MountEntry",
    "MountTable",
    "OverlayLayout",
    "OverlayView",
    "host_top_level",
    "make_private_scratch",
    "make_whiteout",
    "read_mounts",
]

CLONE_FS = 0x00000200
CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
MS_RDONLY = 1
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
_MS_NOSUID = 2
_MS_NODEV = 4
_MS_NOEXEC = 8
PROC_FLAGS = _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
_MNT_DETACH = 2
_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
_SETGROUPS = {"x86_64": 116, "aarch64": 159, "riscv64": 159, "ppc64le": 81, "s390x": 206}
OLD_ROOT = "/.kubepipe-oldroot"  # where the host's root sits between pivot_root and its unmount

SCRATCH_DIRS = ("/tmp", "/var/tmp")
HOME = "/tmp/home"
_SYSTEM_TREES = ("/proc", "/sys", "/dev")
_DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
_DEV_LINKS = (
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
)
_PRIVATE_SHM = "/dev/shm"
_KERNEL_FILESYSTEMS = frozenset(
    {
        "proc",
        "sysfs",
        "devtmpfs",
        "devpts",
        "cgroup",
        "cgroup2",
        "mqueue",
        "debugfs",
        "tracefs",
        "securityfs",
        "pstore",
        "bpf",
        "hugetlbfs",
        "fusectl",
        "configfs",
        "binfmt_misc",
        "autofs",
        "efivarfs",
        "rpc_pipefs",
        "nsfs",
        "selinuxfs",
    }
)


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _unescape(text: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal."""
    if "\\" not in text:
        return text
    return text.encode().decode("unicode_escape").encode("latin-1").decode()


def _escape_option(path: str) -> str:
    """overlayfs splits options on ',' and lowerdir on ':'; a backslash escapes both."""
    return path.replace("\\", "\\\\").replace(",", "\\,").replace(":", "\\:")


@dataclass(frozen=True, slots=True)
class MountEntry:
    """One visible host mount."""

    mount_point: str
    fstype: str
    read_only: bool


def read_mounts(mountinfo: str | None = None) -> list[MountEntry]:
    """The host's visible mounts but `/`, parents first; of stacked mounts only the top one."""
    if mountinfo is None:
        mountinfo = Path("/proc/self/mountinfo").read_text()
    latest: dict[str, MountEntry] = {}
    for line in mountinfo.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        sep = fields.index("-")
        mount_point = _unescape(fields[4])
        if mount_point == "/":
            continue
        latest.pop(mount_point, None)  # re-insert so the top of a stack keeps its mount order
        latest[mount_point] = MountEntry(mount_point, fields[sep + 1], "ro" in fields[5].split(","))
    return sorted(latest.values(), key=lambda m: m.mount_point.rstrip("/").count("/"))


class MountTable:
    """The host's mounts, re-read only when the kernel reports a change.

    mountinfo is pollable: POLLPRI fires once after any mount or unmount in our namespace, so the
    parse (about 0.1 ms) is skipped on every launch that follows no change.
    """

    def __init__(self) -> None:
        self._file = open("/proc/self/mountinfo", "rb")  # noqa: SIM115 - held for the runner's life
        self._poller = select.poll()
        self._poller.register(self._file, select.POLLPRI | select.POLLERR)
        self._mounts: list[MountEntry] | None = None
        self._lock = threading.Lock()

    def current(self) -> list[MountEntry]:
        """The visible mounts now; see `read_mounts`."""
        with self._lock:
            if self._mounts is None or self._poller.poll(0):
                self._file.seek(0)
                self._mounts = read_mounts(os.fsdecode(self._file.read()))
            return self._mounts

    def close(self) -> None:
        """Release the mountinfo descriptor."""
        self._file.close()


class Libc:
    """The few libc calls Python's os module lacks, raising OSError like os functions do."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        self._libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
        self._libc.unshare.argtypes = [ctypes.c_int]
        self._libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]

    def _check(self, result: int, what: str) -> None:
        if result != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"{what}: {os.strerror(code)}")

    def unshare(self, flags: int) -> None:
        """Detach the calling thread from shared kernel state (here: its mount namespace)."""
        self._check(self._libc.unshare(flags), "unshare")

    def pivot_root(self, new_root: str, put_old: str) -> None:
        """pivot_root(2), which glibc does not wrap: make `new_root` the namespace's root mount.

        Unlike chroot it leaves no way back to the old root once that is unmounted, and a
        process under it may make user namespaces (the kernel refuses that to a chrooted one).
        """
        number = _PIVOT_ROOT.get(os.uname().machine)
        if number is None:
            raise OSError(errno.ENOSYS, f"pivot_root: unknown syscall number on {os.uname().machine}")
        result = self._libc.syscall(number, os.fsencode(new_root), os.fsencode(put_old))
        self._check(result, f"pivot_root to {new_root}")

    def become_filesystem_user(self, uid: int, gid: int) -> None:
        """Make the calling thread's file accesses those of `uid`/`gid`, with no groups.

        Thread-local (the raw syscalls; glibc's setgroups would change every thread), and
        setting a non-zero fsuid drops root's file capabilities (DAC override): a file the user
        could not read, this thread cannot either. Use it on a thread that ends afterwards.
        """
        number = _SETGROUPS.get(os.uname().machine)
        if number is None:
            raise OSError(errno.ENOSYS, f"setgroups: unknown syscall number on {os.uname().machine}")
        self._check(self._libc.syscall(number, 0, None), "setgroups")
        self._libc.setfsgid(gid)
        self._libc.setfsuid(uid)
        if self._libc.setfsuid(uid) != uid or self._libc.setfsgid(gid) != gid:
            raise OSError(errno.EPERM, f"could not read as uid {uid}/gid {gid}")

    def umount_detached(self, target: str) -> None:
        """umount2(MNT_DETACH): take a mount tree out of the namespace, busy or not."""
        self._check(self._libc.umount2(os.fsencode(target), _MNT_DETACH), f"umount {target}")

    def mount(
        self,
        source: str | None,
        target: str,
        fstype: str | None,
        flags: int,
        data: str | None = None,
    ) -> None:
        """mount(2), with the target in the error message since that is what a reader needs."""

        def encode(text: str | None) -> bytes | None:
            return None if text is None else os.fsencode(text)

        result = self._libc.mount(
            encode(source), encode(target), encode(fstype), flags, encode(data)
        )
        self._check(result, f"mount {fstype or 'bind'} {source} on {target}")


@dataclass(frozen=True, slots=True)
class _Action:
    """One mount of the plan.

    kind is "bind"/"rbind" (a host tree as it is), "overlay" (host tree, private writes) or
    "private" (a directory of the workdir).
    """

    kind: str
    target: str  # container path
    source: str  # host path
    read_only: bool = False
    upper: Path | None = None
    work: Path | None = None


@dataclass
class OverlayView:
    """Host-readable locations of a step's container paths, valid until `close()`."""

    layers: list[tuple[str, str]]  # (container prefix, host path), deepest first
    fds: list[int] = field(default_factory=list)

    def host_path(self, container_path: str) -> str | None:
        """Where the step's file at `container_path` can be read from the runner's namespace."""
        found = self.layer(container_path)
        return None if found is None else found[0] + found[1]

    def layer(self, container_path: str) -> tuple[str, str] | None:
        """(host path of the mount `container_path` is on, the rest of the path below it)."""
        for prefix, host in self.layers:
            if _under(container_path, prefix):
                return host, container_path[len(prefix.rstrip("/")) :]
        return None

    def close(self) -> None:
        """Drop the descriptors; the detached overlays are unmounted when the last one goes."""
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = []


def make_private_scratch(path: Path | str, sticky: bool = True) -> None:
    """Make a dir of an upper layer empty (opaque): a world-writable sticky scratch dir like
    /tmp, or (`sticky=False`) root's and read-only to others, like an image's empty /home."""
    os.chmod(path, 0o1777 if sticky else 0o755)
    os.setxattr(path, "trusted.overlay.opaque", b"y")


class OverlayLayout:
    """The plan for one step's root: which mounts go where and where its private writes land.

    The root is an overlay of the host's `/` with the step's upper layer on top, but only the
    `runtime` trees (the host as the step's "image": /usr, /etc, ...) show through it. Every other
    top-level directory of the host starts empty and opaque (`/home`, `/root`, `/var`, `/work`:
    anything that may hold the engine's home, its database, other runs' files or other users'
    data), every other top-level file is whited out, and host mounts below those are not mounted.
    Trees the step must still reach (`passthrough`: the interpreter and the engine's code) are
    bound read-only at their own paths, and `hidden` paths that a visible tree would show are
    whited out (or covered by an empty read-only tmpfs inside a read-only bind). All of that is
    part of the skeleton, built ahead of the launch, so it costs the step's path no mounts.
    """

    def __init__(
        self,
        workdir: Path,
        mounts: Sequence[MountEntry],
        passthrough: Sequence[str] = (),
        *,
        runtime: Sequence[str] | None = None,
        hidden: Sequence[str] = (),
        top_level: Sequence[tuple[str, bool]] | None = None,
    ) -> None:
        self.upper = workdir / "upper"
        self.work = workdir / "work"
        self.root = workdir / "root"
        self.shm = workdir / "shm"
        self.actions: list[_Action] = []
        # None shows the whole host through the lower layer (a layout with no tenant to contain).
        self._runtime = None if runtime is None else [os.path.normpath(p) for p in runtime]
        passthrough = list(dict.fromkeys(os.path.normpath(p) for p in passthrough))
        self._passthrough = passthrough
        self.masked: list[tuple[str, bool]] = []  # top-level (path, is a directory) made empty
        if self._runtime is not None:
            for name, is_dir in top_level if top_level is not None else host_top_level():
                path = "/" + name
                if self._shown(path) or any(_under(path, d) for d in SCRATCH_DIRS):
                    continue
                self.masked.append((path, is_dir))
        for index, entry in enumerate(mounts):
            target = entry.mount_point
            if any(_under(target, d) for d in SCRATCH_DIRS) or _under(target, _PRIVATE_SHM):
                if target == _PRIVATE_SHM:
                    self.actions.append(_Action("private", target, str(self.shm)))
                continue
            if target == "/dev" and self._runtime is not None:
                self.actions.append(_Action("dev", target, target))
                continue
            if target == "/proc" and self._runtime is not None:
                continue  # the step's own /proc, of its PID namespace, is mounted at its spawn
            if target in _SYSTEM_TREES:  # one recursive bind brings every mount beneath it
                self.actions.append(_Action("rbind", target, target, read_only=entry.read_only))
                continue
            if any(_under(target, t) for t in _SYSTEM_TREES) or not self._shown(target):
                continue
            if any(_under(target, p) and p != target for p in self._bound_passthrough()):
                continue  # it comes with the passthrough tree's bind
            kernel = entry.fstype in _KERNEL_FILESYSTEMS
            if kernel or entry.read_only or not os.path.isdir(target):
                self.actions.append(
                    _Action("bind", target, target, read_only=entry.read_only or not kernel)
                )
            else:
                base = workdir / "mounts" / str(index)
                self.actions.append(
                    _Action("overlay", target, target, upper=base / "upper", work=base / "work")
                )
        for path in self._bound_passthrough():
            if os.path.isdir(path):
                self.actions.append(_Action("bind", path, path, read_only=True))
        self.whiteouts: list[Path] = []
        hidden = list(dict.fromkeys(os.path.normpath(p) for p in hidden))
        for path in hidden:
            if any(_under(path, other) and other != path for other in hidden):
                continue  # hidden with the tree it is in
            if not self._shown(path) and not any(_under(path, p) for p in passthrough):
                continue  # nothing shows it anyway
            host = self.writable_host_dir(path)
            if host is not None and host.is_relative_to(self.upper):
                self.whiteouts.append(host)
            elif os.path.isdir(path):
                self.actions.append(_Action("mask", path, path, read_only=True))

    def _shown(self, path: str) -> bool:
        """Whether the root overlay's lower layer shows host `path` to the step."""
        if self._runtime is None:
            return True
        return any(_under(path, t) for t in (*self._runtime, *_SYSTEM_TREES))

    def _bound_passthrough(self) -> list[str]:
        """Passthrough trees the view would not show: each gets a read-only bind."""
        trees = [p for p in self._passthrough if self._needs_target(p)]
        # A tree inside another bound tree comes with it.
        return [p for p in trees if not any(_under(p, o) and o != p for o in trees)]

    def _needs_target(self, path: str) -> bool:
        """Whether the view lacks `path` until the skeleton makes it (a mount point, say)."""
        return any(_under(path, d) for d in SCRATCH_DIRS) or not self._shown(path)

    def _owner(self, container_path: str) -> _Action | None:
        owner = None
        for action in self.actions:
            if action.kind == "mask":
                continue
            if _under(container_path, action.target) and (
                owner is None or len(action.target) > len(owner.target)
            ):
                owner = action
        return owner

    def writable_host_dir(self, container_path: str) -> Path | None:
        """Where to create `container_path` before mounting; None under a host bind mount."""
        owner = self._owner(container_path)
        if owner is None:
            return self.upper / container_path.lstrip("/")
        rest = container_path[len(owner.target.rstrip("/")) :].lstrip("/")
        if owner.kind == "overlay" and owner.upper is not None:
            return owner.upper / rest
        if owner.kind == "private":
            return Path(owner.source) / rest
        return None

    def prepare(self, input_files: dict[str, Path], extra_dirs: Sequence[str]) -> None:
        """Create the layer dirs, make scratch dirs private, place inputs in the upper layers."""
        for path, kind in self.skeleton():
            if kind == "whiteout":
                make_whiteout(path)
                continue
            path.mkdir(parents=True, exist_ok=True)
            if kind in ("scratch", "opaque"):
                make_private_scratch(path, sticky=kind == "scratch")
        self.place(input_files, extra_dirs)

    def skeleton(self) -> list[tuple[Path, str]]:
        """What every step of this layout needs, parents first, as (path, kind).

        kind: "dir"; "scratch" (`/tmp`, `/var/tmp`: empty, opaque, sticky and world-writable);
        "opaque" (a masked top-level directory: empty, root's); "whiteout" (a masked file).
        """
        entries: list[tuple[Path, str]] = [
            (p, "dir") for p in (self.upper, self.work, self.root, self.shm)
        ]
        for action in self.actions:
            if action.kind == "overlay" and action.upper is not None and action.work is not None:
                entries += [(action.upper, "dir"), (action.work, "dir")]
        for path, is_dir in self.masked:
            entries.append((self.upper / path.lstrip("/"), "opaque" if is_dir else "whiteout"))
        for scratch in SCRATCH_DIRS:
            host = self.writable_host_dir(scratch)
            if host is not None:
                entries.append((host, "scratch"))
        for action in self.actions:  # bind targets the lower layer does not show must exist
            if action.kind == "bind" and self._needs_target(action.target):
                parent = self.writable_host_dir(posixpath.dirname(action.target))
                if parent is not None:
                    entries.append((parent / posixpath.basename(action.target), "dir"))
        entries += [(path, "whiteout") for path in self.whiteouts]
        return entries

    def place(
        self,
        input_files: dict[str, Path],
        extra_dirs: Sequence[str],
        owner: tuple[int, int] | None = None,
    ) -> None:
        """The step's own part: its extra dirs (HOME, working dir) and its inputs.

        `owner` (uid, gid) is given the extra dirs and the inputs, with the folders made for
        them that its image lacks: the step may write where it was told to, and change its
        inputs, as a container whose init step fetched them for it may.
        """
        for directory in extra_dirs:
            host = self.writable_host_dir(directory)
            if host is None:
                continue
            host.mkdir(parents=True, exist_ok=True)
            if owner is not None:
                self._give(directory, owner)
        for container_path, source in input_files.items():
            host = self.writable_host_dir(container_path)
            if host is None:
                raise ValueError(
                    f"cannot place an input at {container_path}: it is inside a host system mount"
                )
            copy_in(source, host)
            if owner is not None:  # the step's own files, as if it had fetched them itself
                self._give(posixpath.dirname(container_path), owner)
                _chown_tree(host, owner)

    def resolver(self) -> None:
        """Give the step the host's DNS settings where /etc/resolv.conf links into a tree it
        does not see (systemd-resolved's /run/systemd/resolve/stub-resolv.conf): a copy, made
        at each launch since the host's may change."""
        link = "/etc/resolv.conf"
        if not os.path.islink(link) or self._shown(os.path.realpath(link)):
            return
        host = self.writable_host_dir(link)
        if host is None:
            return
        host.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copyfile(link, host)  # replaces the link in the step's view
        except OSError:
            return  # no resolver configured on the host either
        os.chmod(host, 0o644)

    def hand_over(self, owner: tuple[int, int], extra: Sequence[str] = ()) -> None:
        """Make the step (`owner`: its host uid and gid) the owner of its view's `/`, of the
        empty top-level directories standing in for the host's, and of `extra` dirs.

        In a container the image's root user owns `/` and may write anywhere in it; here the
        step's user may, in its own upper layer, while the host's trees stay root's.
        """
        os.chown(self.upper, *owner)
        for path, is_dir in self.masked:
            if is_dir:
                os.chown(self.upper / path.lstrip("/"), *owner)
        for path in extra:
            host = self.writable_host_dir(path)
            if host is not None:
                os.chown(host, *owner)

    def _give(self, directory: str, owner: tuple[int, int]) -> None:
        """Chown `directory` and its parents that the image lacks (not shown by the lower layer,
        not a scratch dir itself) to the step: in its view they are the step's own."""
        parts = directory.strip("/").split("/")
        for depth in range(1, len(parts) + 1):
            path = "/" + "/".join(parts[:depth])
            if path in SCRATCH_DIRS or not self._needs_target(path):
                continue
            host = self.writable_host_dir(path)
            if host is not None:  # None: inside a read-only host bind, not the step's to own
                os.chown(host, *owner)

    def mount_all(
        self, libc: Libc, volumes: Sequence[tuple[str, str, bool, str]] = ()
    ) -> OverlayView:
        """Mount the plan under `self.root`; call in a thread that has its own mount namespace.

        `volumes` are (source to bind, container path, read-only, host path) binds made last,
        over the view; the host path is where the runner reads the volume's files later (the
        source may be a descriptor's /proc path, gone by then).
        """
        root = str(self.root)
        upper, work = _escape_option(str(self.upper)), _escape_option(str(self.work))
        lower_opts = f"lowerdir=/,upperdir={upper},workdir={work}"
        self._mount_overlay(libc, root, lower_opts)
        view = OverlayView(layers=[])
        try:
            view.fds.append(os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC))
            layers = [("/", f"/proc/self/fd/{view.fds[0]}")]
            for action in self.actions:
                target = root + action.target
                if (
                    action.kind == "overlay"
                    and action.upper is not None
                    and action.work is not None
                ):
                    options = (
                        f"lowerdir={_escape_option(action.source)},upperdir={_escape_option(str(action.upper))},"
                        f"workdir={_escape_option(str(action.work))}"
                    )
                    try:
                        self._mount_overlay(libc, target, options)
                    except OSError:  # not every filesystem can be a lower layer: keep it, read-only
                        self._bind(libc, action.source, target, read_only=True)
                        layers.append((action.target, action.source))
                        continue
                    view.fds.append(os.open(target, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC))
                    layers.append((action.target, f"/proc/self/fd/{view.fds[-1]}"))
                elif action.kind == "dev":
                    self._mount_dev(libc, target)
                elif action.kind == "mask":
                    libc.mount("tmpfs", target, "tmpfs", MS_RDONLY | _MS_NOSUID, "size=4k")
                else:
                    recursive = action.kind == "rbind"
                    if not self._bind(libc, action.source, target, action.read_only, recursive):
                        continue
                    layers.append((action.target, action.source))
            for source, path, read_only, host in volumes:
                self._bind(libc, source, root + path, read_only, recursive=True)
                layers.append((path, host))
            view.layers = sorted(layers, key=lambda layer: len(layer[0]), reverse=True)
            return view
        except BaseException:
            view.close()
            raise

    @staticmethod
    def _mount_dev(libc: Libc, target: str) -> None:
        """A container's /dev: the harmless device nodes, fd links and a private pts instance.

        The host's /dev would show its disks and every other device; a step needs only these.
        """
        libc.mount("tmpfs", target, "tmpfs", _MS_NOSUID | _MS_NOEXEC, "mode=755,size=64k")
        for name in _DEVICES:
            node = f"{target}/{name}"
            os.close(os.open(node, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o666))
            libc.mount(f"/dev/{name}", node, None, MS_BIND)
        for name, link in _DEV_LINKS:
            os.symlink(link, f"{target}/{name}")
        os.mkdir(f"{target}/shm")
        os.mkdir(f"{target}/pts")
        try:
            libc.mount(
                "devpts", f"{target}/pts", "devpts", _MS_NOSUID | _MS_NOEXEC,
                "newinstance,ptmxmode=0666,mode=0620",
            )
        except OSError:
            pass  # no terminals for this step; batch steps seldom want one
        os.chmod(target, 0o755)

    @staticmethod
    def _mount_overlay(libc: Libc, target: str, options: str) -> None:
        """Mount an overlay, `volatile` where the kernel has it (>= 5.10).

        A step's layer is never mounted again, so skipping its syncs loses nothing, and it makes
        the final unmount about five times cheaper (0.6 -> 0.12 ms here).
        """
        try:
            libc.mount("overlay", target, "overlay", 0, options + ",volatile")
        except OSError as error:
            if error.errno != errno.EINVAL:
                raise
            libc.mount("overlay", target, "overlay", 0, options)

    @staticmethod
    def _bind(
        libc: Libc, source: str, target: str, read_only: bool, recursive: bool = False
    ) -> bool:
        try:
            libc.mount(source, target, None, MS_BIND | (MS_REC if recursive else 0))
        except FileNotFoundError:  # a mount point hidden under a later mount: nothing to show
            return False
        if read_only:
            try:
                libc.mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY)
            except OSError:
                pass  # the filesystem itself is read-only; the bind already is too
        return True


def _chown_tree(path: Path, owner: tuple[int, int]) -> None:
    """lchown `path` and, for a directory, everything below it (links themselves, not targets)."""
    os.lchown(path, *owner)
    if path.is_dir() and not path.is_symlink():
        for folder, dirs, files in os.walk(path):
            for name in (*dirs, *files):
                os.lchown(os.path.join(folder, name), *owner)


def host_top_level() -> list[tuple[str, bool]]:
    """The host root's entries but symlinks (those resolve inside the view), and whether each
    is a directory."""
    found = []
    with os.scandir("/") as entries:
        for entry in entries:
            if not entry.is_symlink():
                found.append((entry.name, entry.is_dir(follow_symlinks=False)))
    return sorted(found)


def make_whiteout(path: Path | str) -> None:
    """An overlay whiteout (a 0/0 character device): the lower layer's entry is not there."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(0, 0))
    except FileExistsError:
        pass
