"""The parts of a pod spec a local runner applies: securityContext and volumes.

Kubernetes merges the pod's securityContext with each container's (the container's fields win)
and resolves each volumeMount against the pod's volumes by name. The same happens here, for the
fields a process on this machine can honour: the user and groups, capabilities and privileged
(`_identity.py` decides what is granted), and `hostPath` and `emptyDir` volumes. Other volume
kinds stay "not applied locally", as before.

The manifest's fields are raw dicts in `engine.spec` (they are Kubernetes' to define); the small
models here validate just what is read, so a wrong type is reported with its field's path.
"""

from __future__ import annotations

import posixpath
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.errors import KubepipeError
from engine.runners.base import StepSecurity, StepVolume, VolumeKind

__all__ = ["PodSpecError", "pod_volumes", "step_security"]


class PodSpecError(KubepipeError):
    """A securityContext or volume the runner cannot make sense of; names the field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, strict=False)


class _Capabilities(_Model):
    add: list[str] = Field(default_factory=list)
    drop: list[str] = Field(default_factory=list)


class _SecurityContext(_Model):
    """Pod- and container-level fields together; each level sets only some of them."""

    run_as_user: int | None = Field(default=None, alias="runAsUser")
    run_as_group: int | None = Field(default=None, alias="runAsGroup")
    run_as_non_root: bool | None = Field(default=None, alias="runAsNonRoot")
    supplemental_groups: list[int] = Field(default_factory=list, alias="supplementalGroups")
    fs_group: int | None = Field(default=None, alias="fsGroup")
    privileged: bool | None = None
    capabilities: _Capabilities | None = None


class _HostPath(_Model):
    path: str
    type: str = ""


class _KeyToPath(_Model):
    key: str
    path: str
    mode: int | None = None


class _ObjectSource(_Model):
    """A configMap or secret volume: `name` (configMap) or `secretName` (secret)."""

    name: str | None = None
    secret_name: str | None = Field(default=None, alias="secretName")
    items: list[_KeyToPath] = Field(default_factory=list)
    default_mode: int = Field(default=0o644, alias="defaultMode")
    optional: bool = False


class _Volume(_Model):
    name: str
    host_path: _HostPath | None = Field(default=None, alias="hostPath")
    empty_dir: dict[str, Any] | None = Field(default=None, alias="emptyDir")
    config_map: _ObjectSource | None = Field(default=None, alias="configMap")
    secret: _ObjectSource | None = None


class _VolumeMount(_Model):
    name: str
    mount_path: str = Field(alias="mountPath")
    read_only: bool = Field(default=False, alias="readOnly")
    sub_path: str = Field(default="", alias="subPath")


_HOST_PATH_TYPES = frozenset(
    {"", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice",
     "BlockDevice"}
)


def _parse(model: type[_Model], value: Any, where: str) -> Any:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise PodSpecError(f"{where}.{field}: {first['msg']}") from None


def step_security(
    pod_contexts: Sequence[tuple[str, Any]], container_context: Any, namespace: str
) -> StepSecurity:
    """The step's securityContext: pod-level ones (workflow, then template) under the container's.

    `pod_contexts` are (field path, value) pairs, outermost first; later ones win, as a
    template's `securityContext` overrides the workflow's default for its pods.
    """
    merged: dict[str, Any] = {}
    groups: list[int] = []
    for where, value in [*pod_contexts, ("container.securityContext", container_context)]:
        if not value:
            continue
        if not isinstance(value, Mapping):
            raise PodSpecError(f"{where} must be a mapping, got {type(value).__name__}")
        parsed = _parse(_SecurityContext, value, where)
        merged.update(parsed.model_dump(exclude_unset=True, by_alias=False))
        groups += parsed.supplemental_groups
        if parsed.fs_group is not None:
            groups.append(parsed.fs_group)  # a kubelet adds fsGroup to every container's groups
    capabilities = merged.get("capabilities") or {}
    try:
        return StepSecurity(
            namespace=namespace,
            run_as_user=merged.get("run_as_user"),
            run_as_group=merged.get("run_as_group"),
            supplemental_groups=tuple(dict.fromkeys(groups)),
            run_as_non_root=bool(merged.get("run_as_non_root")),
            privileged=bool(merged.get("privileged")),
            capabilities_add=tuple(capabilities.get("add") or ()),
            capabilities_drop=tuple(capabilities.get("drop") or ()),
        )
    except ValueError as exc:
        raise PodSpecError(str(exc)) from None


ObjectLookup = Callable[[str, str], "dict[str, Any] | None"]  # (kind, name) -> stored object


def pod_volumes(
    volumes: Sequence[tuple[str, Any]],
    mounts: Any,
    pod_dir: Path,
    objects: ObjectLookup | None = None,
    *,
    projected_dir: Path | None = None,
) -> tuple[list[StepVolume], list[str]]:
    """The container's volumeMounts that this machine can provide, and notes on the others.

    `volumes` are (field path, list) pairs (the workflow's, then the template's: a template's
    volume of the same name wins); emptyDirs live in `pod_dir`, shared by the pod's containers.
    configMap and secret volumes are written there from the objects `objects` finds (those the
    run created), read-only, as the kubelet projects them, into `projected_dir` (default
    `pod_dir`): one per container, so that one container's projection never replaces files
    another has mounted.
    """
    by_name: dict[str, _Volume] = {}
    for where, listed in volumes:
        if not listed:
            continue
        if not isinstance(listed, list):
            raise PodSpecError(f"{where} must be a list of volumes")
        for index, item in enumerate(listed):
            volume = _parse(_Volume, item, f"{where}[{index}]")
            by_name[volume.name] = volume
    if not mounts:
        return [], []
    if not isinstance(mounts, list):
        raise PodSpecError("container.volumeMounts must be a list")
    found: list[StepVolume] = []
    notes: list[str] = []
    for index, item in enumerate(mounts):
        where = f"container.volumeMounts[{index}]"
        mount = _parse(_VolumeMount, item, where)
        volume = by_name.get(mount.name)
        if volume is None:
            notes.append(
                f"{where}: volume {mount.name!r} is not declared here (a claim template or a "
                "volume of the cluster): not mounted locally"
            )
            continue
        if volume.host_path is not None:
            if volume.host_path.type not in _HOST_PATH_TYPES:
                raise PodSpecError(
                    f"volumes {mount.name!r}: hostPath.type {volume.host_path.type!r} is not a "
                    f"Kubernetes hostPath type (one of {', '.join(sorted(_HOST_PATH_TYPES - {''}))})"
                )
            if not posixpath.isabs(volume.host_path.path):
                raise PodSpecError(
                    f"volumes {mount.name!r}: hostPath.path {volume.host_path.path!r} must be "
                    "an absolute path"
                )
            kind, source = VolumeKind.HOST_PATH, Path(volume.host_path.path)
        elif volume.empty_dir is not None:
            kind, source = VolumeKind.EMPTY_DIR, pod_dir / "volumes" / mount.name
        elif volume.config_map is not None or volume.secret is not None:
            kind = VolumeKind.FILES
            source = _project(volume, (projected_dir or pod_dir) / mount.name, objects)
            mount.read_only = True  # the kubelet mounts these read-only whatever the mount says
        else:
            notes.append(f"{where}: volume {mount.name!r} is not a hostPath or emptyDir: not "
                         "mounted locally")
            continue
        if mount.sub_path:
            sub = posixpath.normpath(mount.sub_path)
            if sub.startswith(("/", "..")):
                raise PodSpecError(f"{where}.subPath {mount.sub_path!r} must stay inside the volume")
            source = source / sub
        try:
            found.append(
                StepVolume(
                    name=mount.name,
                    kind=kind,
                    mount_path=mount.mount_path,
                    source=source,
                    read_only=mount.read_only,
                    host_type=volume.host_path.type if volume.host_path is not None else "",
                )
            )
        except ValueError as exc:
            raise PodSpecError(f"{where}: {exc}") from None
    return found, notes


def _project(volume: _Volume, target: Path, objects: ObjectLookup | None) -> Path:
    """Write a configMap/secret volume's files (its keys, or its `items`) into `target`."""
    from engine.controllers.objects import object_files

    source = volume.config_map or volume.secret
    assert source is not None
    kind, field = ("ConfigMap", "configMap.name") if volume.config_map else ("Secret", "secret.secretName")
    name = source.name if volume.config_map else source.secret_name
    if not name:
        raise PodSpecError(f"volumes {volume.name!r}: {field} is required")
    obj = objects(kind, name) if objects is not None else None
    if obj is None and not source.optional:
        raise PodSpecError(
            f"volumes {volume.name!r}: {kind} {name!r} not found: create it in an earlier step "
            "of this run (a resource template with action: create), or mark the volume "
            "optional: true"
        )
    files = object_files(obj) if obj is not None else {}
    chosen = {item.key: (item.path, item.mode) for item in source.items} or {
        key: (key, None) for key in files
    }
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for key, (path, mode) in chosen.items():
        if key not in files:
            if source.optional:
                continue
            raise PodSpecError(f"volumes {volume.name!r}: {kind} {name!r} has no key {key!r}")
        relative = posixpath.normpath(path)
        if relative.startswith(("/", "..")):
            raise PodSpecError(f"volumes {volume.name!r}: items path {path!r} must stay inside the volume")
        file = target / relative
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(files[key])
        os.chmod(file, (source.default_mode if mode is None else mode) & 0o777)
    return target
