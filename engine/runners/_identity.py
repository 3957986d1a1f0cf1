"""Who a step runs as: the operator's `SandboxPolicy` applied to the step's securityContext.

A kubelet runs a container as the image's or the securityContext's user, with the runtime's
capability set; a shared node adds admission policy (Pod Security "restricted") on top. Here the
policy is the runner's settings: a step that does not ask gets an unprivileged uid of its own
(one per namespace, so two teams' steps cannot signal or ptrace each other, or read each other's
files left in a shared volume), no capabilities, and `no_new_privs`, so no setuid binary in the
host "image" hands it root back. Root is granted only when the securityContext asks for it and the
policy allows it.

The privileges are dropped by `setpriv` (util-linux), exec'd by the step's shim just before the
step: the shim itself stays root so it can write the step's exit status where the step cannot
forge it, and the engine never forks itself (Python's `Popen(user=...)` would, which costs
milliseconds per step in a large process).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass

from engine.runners.base import StepSecurity

__all__ = ["CAPABILITIES", "SandboxPolicy", "StepIdentity", "StepRefused", "find_tool", "resolve_identity"]

# The capability names Linux knows (capabilities(7)), as securityContext spells them.
CAPABILITIES = frozenset(
    {
        "AUDIT_CONTROL",
        "AUDIT_READ",
        "AUDIT_WRITE",
        "BLOCK_SUSPEND",
        "BPF",
        "CHECKPOINT_RESTORE",
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "IPC_LOCK",
        "IPC_OWNER",
        "KILL",
        "LEASE",
        "LINUX_IMMUTABLE",
        "MAC_ADMIN",
        "MAC_OVERRIDE",
        "MKNOD",
        "NET_ADMIN",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_RAW",
        "PERFMON",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYSLOG",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_CHROOT",
        "SYS_MODULE",
        "SYS_NICE",
        "SYS_PACCT",
        "SYS_PTRACE",
        "SYS_RAWIO",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "WAKE_ALARM",
    }
)

# What Pod Security "restricted" lets a pod add; anything more needs the operator's consent.
_UNPRIVILEGED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})

DEFAULT_UID_BASE = 200_000
DEFAULT_UID_SPAN = 1_000_000


class StepRefused(ValueError):
    """The step asks for more than the runner's policy grants; the message names the field."""


@dataclass(frozen=True, slots=True)
class SandboxPolicy:
    """What the operator lets steps have; part of `LocalRunnerSettings`.

    Attributes:
        step_uid: the uid (and gid) of every step that names none; None gives each namespace
            its own, `uid_base + hash(namespace) % uid_span` (uids no host account uses).
        allow_root: honour `runAsUser: 0` and `privileged: true`. The single-user CLI allows it;
            `kubepipe up --auth` does not unless the operator says so.
        host_paths: host directories a `hostPath` volume may name (itself or below); None allows
            any path (the single-user CLI), () none (a shared server's default).
        hidden_paths: host paths no step may see even where the runtime trees would show them
            (the engine's home, database and artifact root).
        runtime_paths: top-level host trees every step sees, read-only through its private
            overlay: the host is the "image". Everything else at the top level starts empty.
    """

    step_uid: int | None = None
    uid_base: int = DEFAULT_UID_BASE
    uid_span: int = DEFAULT_UID_SPAN
    allow_root: bool = True
    host_paths: tuple[str, ...] | None = None
    hidden_paths: tuple[str, ...] = ()
    runtime_paths: tuple[str, ...] = (
        "/usr",
        "/bin",
        "/sbin",
        "/lib",
        "/lib32",
        "/lib64",
        "/libx32",
        "/etc",
        "/opt",
    )

    def __post_init__(self) -> None:
        if self.step_uid is not None and not 0 < self.step_uid < 2**32 - 1:
            raise ValueError(f"step_uid must be an unprivileged uid (> 0), got {self.step_uid}")
        if self.uid_base <= 0 or self.uid_span <= 0 or self.uid_base + self.uid_span >= 2**32 - 1:
            raise ValueError("uid_base and uid_span must describe a range of uids above 0")

    def namespace_uid(self, namespace: str) -> int:
        """The uid a namespace's steps run as when they name none; stable across restarts."""
        if self.step_uid is not None:
            return self.step_uid
        digest = hashlib.sha256(namespace.encode()).digest()
        return self.uid_base + int.from_bytes(digest[:8], "big") % self.uid_span

    def host_path_allowed(self, path: str) -> bool:
        """Whether a hostPath volume may bind `path` (normalised, absolute)."""
        if self.host_paths is None:
            return True
        normal = os.path.normpath(path)
        return any(
            normal == root or normal.startswith(root.rstrip("/") + "/")
            for root in (os.path.normpath(r) for r in self.host_paths)
        )


@dataclass(frozen=True, slots=True)
class StepIdentity:
    """The uid, gids and capabilities a step gets; `privileged` keeps everything (root, all caps).

    `uid`/`gid` are the host's. With `inner_uid` set the step runs in a user namespace of its
    own that maps that uid (say the 0 a securityContext asked for) to `uid`: it sees itself as
    that user while the host sees an unprivileged one, as a Kubernetes pod with `hostUsers:
    false` does.
    """

    uid: int
    gid: int
    groups: tuple[int, ...] = ()
    capabilities: tuple[str, ...] = ()
    privileged: bool = False
    inner_uid: int | None = None
    inner_gid: int | None = None

    def drop_argv(self, setpriv: str, unshare: str | None = None) -> list[str]:
        """The prefix that turns the shim's root into this identity before the step.

        `unshare` (util-linux) makes the user namespace when `inner_uid` is set; a second
        `setpriv` inside it empties the capability sets again, since a process is granted every
        capability of a user namespace it creates.
        """
        if self.privileged:
            return []
        caps = "".join(f",+{name.lower()}" for name in self.capabilities)
        drop = [f"--inh-caps=-all{caps}", f"--bounding-set=-all{caps}"]
        argv = [
            setpriv,
            f"--reuid={self.uid}",
            f"--regid={self.gid}",
            f"--groups={','.join(map(str, self.groups))}" if self.groups else "--clear-groups",
            "--no-new-privs",
            *drop,
        ]
        inner = self.uid if self.inner_uid is None else self.inner_uid
        if caps and inner != 0:  # a non-root uid keeps added capabilities across exec only so
            drop.append(f"--ambient-caps=-all{caps}")
            if self.inner_uid is None:
                argv.append(drop[-1])
        if self.inner_uid is None:
            return [*argv, "--"]
        if unshare is None:
            raise StepRefused("a user namespace was planned but unshare (util-linux) is missing")
        gid = self.gid if self.inner_gid is None else self.inner_gid
        return [
            *argv,
            "--",
            unshare,
            "--user",
            f"--map-user={self.inner_uid}",
            f"--map-group={gid}",
            "--",
            setpriv,
            *drop,
            "--",
        ]


def _capabilities(names: Sequence[str], field: str) -> set[str]:
    found = set()
    for raw in names:
        name = str(raw).upper().removeprefix("CAP_")
        if name != "ALL" and name not in CAPABILITIES:
            raise StepRefused(
                f"securityContext.capabilities.{field}: unknown capability {raw!r} "
                "(use a Linux capability name such as NET_ADMIN)"
            )
        found.add(name)
    return found


def resolve_identity(
    policy: SandboxPolicy, security: StepSecurity, user_namespaces: bool = False
) -> StepIdentity:
    """The identity the step runs as, or StepRefused naming the securityContext field.

    A step that names no ids runs as its namespace's unprivileged uid, which owns its view's
    `/` (so it may write anywhere in its own view, as an image's root user may). One that names
    a runAsUser/runAsGroup gets them: as host ids where the policy allows root (the CLI), else
    inside a user namespace of its own, mapped to the namespace's uid outside, when
    `user_namespaces` says the kernel allows an unprivileged uid to make one; otherwise it is
    refused, naming the field. The user namespace costs two more execs per step, so it is
    used only where ids were asked for.
    """
    if security.privileged:
        if not policy.allow_root:
            raise StepRefused(
                "securityContext.privileged: this server does not run privileged steps; "
                "remove it, or start the server with --allow-root-steps"
            )
        return StepIdentity(uid=0, gid=0, privileged=True)
    granted = _granted(policy, security)
    host = policy.namespace_uid(security.namespace)
    asked = security.run_as_user is not None or security.run_as_group is not None
    if policy.allow_root and (asked or security.supplemental_groups):
        uid = host if security.run_as_user is None else security.run_as_user
        gid = uid if security.run_as_group is None else security.run_as_group
        groups = tuple(dict.fromkeys(security.supplemental_groups))
        return StepIdentity(uid=uid, gid=gid, groups=groups, capabilities=granted)
    if user_namespaces and asked:
        inner_uid = 0 if security.run_as_user is None else security.run_as_user
        if security.run_as_non_root and inner_uid == 0:
            raise StepRefused(
                "securityContext.runAsNonRoot is true but the step would run as root (the "
                "image's default user); give securityContext.runAsUser a non-zero uid"
            )
        inner_gid = inner_uid if security.run_as_group is None else security.run_as_group
        return StepIdentity(
            uid=host, gid=host, capabilities=granted, inner_uid=inner_uid, inner_gid=inner_gid
        )
    for field, value in (
        ("runAsUser", security.run_as_user),
        ("runAsGroup", security.run_as_group),
        ("supplementalGroups", security.supplemental_groups or None),
    ):
        if value is not None:
            raise StepRefused(
                f"securityContext.{field}: this server maps a step's ids to unprivileged ones "
                "through a user namespace, which this kernel does not allow, and grants no host "
                f"ids; remove {field}, or start the server with --allow-root-steps"
            )
    return StepIdentity(uid=host, gid=host, capabilities=granted)


def _granted(policy: SandboxPolicy, security: StepSecurity) -> tuple[str, ...]:
    """The capabilities the step keeps: what it adds, less what it drops, within the policy."""
    added = _capabilities(security.capabilities_add, "add")
    dropped = _capabilities(security.capabilities_drop, "drop")
    if "ALL" in added:
        raise StepRefused(
            "securityContext.capabilities.add: ALL is privileged; name the capabilities needed"
        )
    granted = tuple(sorted(added if "ALL" in dropped else added - dropped))
    beyond = sorted(set(granted) - _UNPRIVILEGED_CAPABILITIES)
    if beyond and not policy.allow_root:
        raise StepRefused(
            f"securityContext.capabilities.add: {', '.join(beyond)} would let a step act beyond "
            "its own sandbox, which this server does not grant (as Pod Security 'restricted', it "
            "allows only NET_BIND_SERVICE); remove them, or start the server with "
            "--allow-root-steps"
        )
    return granted


def find_tool(name: str) -> str | None:
    """A util-linux tool of the host (`setpriv`, `unshare`), which every step's view shows: it
    lives under /usr."""
    return shutil.which(name, path="/usr/bin:/bin:/usr/sbin:/sbin")
