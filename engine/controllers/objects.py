"""ConfigMaps and Secrets a run creates: objects with no work, kept for the run's pods to mount.

On a cluster a `resource` step that creates a ConfigMap or a Secret succeeds once the API server
stores it, and later pods mount it as a volume. Locally the object is kept in its creating
node (as every resource step's object is) and `run_objects` finds it by kind, namespace and name
when a pod's `configMap`/`secret` volume names it. The API server's checks and conversions are
made here: keys must be valid file names, Secret `data` must be base64, and `stringData` is
merged into `data` (encoded), as `kubectl get secret -o yaml` would show it.
"""

from __future__ import annotations

import base64
import binascii
import re
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from engine.errors import KubepipeError

if TYPE_CHECKING:
    from engine.controllers.registry import ResourceContext
    from engine.state import NodeRecord, RunState

__all__ = ["ConfigMapController", "SecretController", "find_object", "object_files"]

_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_MAX_BYTES = 1024 * 1024  # the API server's limit on one object


def _check_key(kind: str, field: str, key: Any) -> str:
    if not isinstance(key, str) or not _KEY.fullmatch(key) or key in (".", ".."):
        raise KubepipeError(
            f"{kind} {field}: key {key!r} is invalid: a valid key must consist of alphanumeric "
            "characters, '-', '_' or '.'"
        )
    return key


def _mapping(kind: str, field: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise KubepipeError(f"{kind} {field} must be a mapping of keys to values")
    return value


def _decode(kind: str, field: str, key: str, value: Any) -> bytes:
    if not isinstance(value, str):
        raise KubepipeError(f"{kind} {field}.{key} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise KubepipeError(
            f"{kind} {field}.{key}: illegal base64 data (use stringData for plain text)"
        ) from None


class _StoredObject(ABC):
    """An object that only exists: created, it is done (the API server's 201 is the verdict)."""

    api_version = "v1"
    kind = ""

    @abstractmethod
    def normalise(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """The object as the API server would store it, or KubepipeError naming the field."""

    def start(
        self, state: RunState, node: NodeRecord, manifest: dict[str, Any], ctx: ResourceContext
    ) -> dict[str, Any]:
        obj = self.normalise(manifest)
        size = sum(len(v) for v in object_files(obj).values())
        if size > _MAX_BYTES:
            raise KubepipeError(f"{self.kind} is {size} bytes; the limit is {_MAX_BYTES} (1 MiB)")
        return obj

    def reconcile(
        self, state: RunState, node: NodeRecord, obj: dict[str, Any], ctx: ResourceContext
    ) -> dict[str, Any]:
        return obj

    def advance(
        self, state: RunState, node: NodeRecord, obj: dict[str, Any], ctx: ResourceContext
    ) -> dict[str, Any]:
        return obj

    def outcome(self, obj: dict[str, Any]) -> tuple[bool, str] | None:
        return True, ""

    def busy(self, state: RunState, node: NodeRecord) -> bool:
        return False

    def cancel(self, state: RunState, node: NodeRecord, reason: str, ctx: ResourceContext) -> None:
        return None


class ConfigMapController(_StoredObject):
    kind = "ConfigMap"

    def normalise(self, manifest: dict[str, Any]) -> dict[str, Any]:
        data = _mapping(self.kind, "data", manifest.get("data"))
        binary = _mapping(self.kind, "binaryData", manifest.get("binaryData"))
        for key, value in data.items():
            _check_key(self.kind, "data", key)
            if not isinstance(value, str):
                raise KubepipeError(
                    f"ConfigMap data.{key} must be a string (quote numbers and booleans)"
                )
        for key, value in binary.items():
            _check_key(self.kind, "binaryData", key)
            _decode(self.kind, "binaryData", key, value)
        clash = sorted(set(data) & set(binary))
        if clash:
            raise KubepipeError(f"ConfigMap key {clash[0]!r} is in both data and binaryData")
        return manifest


class SecretController(_StoredObject):
    kind = "Secret"

    def normalise(self, manifest: dict[str, Any]) -> dict[str, Any]:
        data = dict(_mapping(self.kind, "data", manifest.get("data")))
        for key, value in data.items():
            _check_key(self.kind, "data", key)
            _decode(self.kind, "data", key, value)
        for key, value in _mapping(self.kind, "stringData", manifest.pop("stringData", None)).items():
            _check_key(self.kind, "stringData", key)
            if not isinstance(value, str):
                raise KubepipeError(f"Secret stringData.{key} must be a string")
            data[key] = base64.b64encode(value.encode()).decode()
        manifest["data"] = data
        manifest.setdefault("type", "Opaque")
        return manifest


def object_files(obj: dict[str, Any]) -> dict[str, bytes]:
    """Every key of a stored ConfigMap or Secret with its content, as a volume shows them."""
    files: dict[str, bytes] = {}
    if obj.get("kind") == "ConfigMap":
        for key, value in (obj.get("data") or {}).items():
            files[key] = str(value).encode()
        for key, value in (obj.get("binaryData") or {}).items():
            files[key] = base64.b64decode(value)
    else:
        for key, value in (obj.get("data") or {}).items():
            files[key] = base64.b64decode(value)
    return files


def find_object(state: RunState, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    """The ConfigMap or Secret named so that a resource step of this run created, if any."""
    for node in state.nodes.values():
        obj = node.extra.get("resource")
        if (
            isinstance(obj, dict)
            and obj.get("apiVersion") == "v1"
            and obj.get("kind") == kind
            and (obj.get("metadata") or {}).get("namespace") == namespace
            and (obj.get("metadata") or {}).get("name") == name
        ):
            return obj
    return None
