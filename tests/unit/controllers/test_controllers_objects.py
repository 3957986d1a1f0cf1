"""ConfigMap/Secret objects a run creates, and the pod fields the local runner applies."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.controllers.objects import ConfigMapController, SecretController, object_files
from engine.errors import KubepipeError
from engine.podspec import PodSpecError, pod_volumes, step_security
from engine.runners.base import VolumeKind


def _secret(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, **fields}


def test_secret_string_data_is_stored_encoded_as_the_api_server_does() -> None:
    obj = SecretController().normalise(_secret(stringData={"token": "abc"}, data={"x": "eQ=="}))
    assert obj["data"] == {"x": "eQ==", "token": base64.b64encode(b"abc").decode()}
    assert "stringData" not in obj and obj["type"] == "Opaque"
    assert object_files(obj) == {"x": b"y", "token": b"abc"}


@pytest.mark.parametrize(
    ("controller", "manifest", "expected"),
    [
        (SecretController(), _secret(data={"k": "not base64!"}), "data.k: illegal base64"),
        (SecretController(), _secret(data={"../k": "eQ=="}), "key '../k' is invalid"),
        (ConfigMapController(), {"kind": "ConfigMap", "data": {"n": 3}}, "data.n must be a string"),
        (ConfigMapController(), {"kind": "ConfigMap", "data": ["a"]}, "data must be a mapping"),
        (
            ConfigMapController(),
            {"kind": "ConfigMap", "data": {"a": "1"}, "binaryData": {"a": "eQ=="}},
            "in both data and binaryData",
        ),
    ],
)
def test_bad_objects_are_refused_naming_the_field(
    controller: Any, manifest: dict[str, Any], expected: str
) -> None:
    with pytest.raises(KubepipeError, match=expected.replace("(", r"\(")):
        controller.normalise(manifest)


@given(st.dictionaries(st.from_regex(r"[-._a-zA-Z0-9]{1,20}", fullmatch=True).filter(
    lambda k: k not in (".", "..")), st.binary(max_size=64), max_size=5))
def test_secret_files_round_trip_any_bytes(values: dict[str, bytes]) -> None:
    data = {k: base64.b64encode(v).decode() for k, v in values.items()}
    assert object_files(SecretController().normalise(_secret(data=data))) == values


def _lookup(objects: dict[tuple[str, str], dict[str, Any]]) -> Any:
    return lambda kind, name: objects.get((kind, name))


def test_config_map_volume_projects_items_with_modes(tmp_path: Path) -> None:
    config = ConfigMapController().normalise(
        {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}}
    )
    volumes = [{"name": "cfg", "configMap": {"name": "c", "items": [{"key": "b", "path": "sub/b.txt", "mode": 0o600}]}}]
    mounts = [{"name": "cfg", "mountPath": "/etc/cfg", "readOnly": False}]
    found, notes = pod_volumes([("template.volumes", volumes)], mounts, tmp_path,
                               _lookup({("ConfigMap", "c"): config}))
    (volume,) = found
    assert volume.kind is VolumeKind.FILES and volume.read_only and not notes
    assert volume.source is not None
    assert (volume.source / "sub" / "b.txt").read_text() == "2"
    assert (volume.source / "sub" / "b.txt").stat().st_mode & 0o777 == 0o600
    assert not (volume.source / "a").exists()


@pytest.mark.parametrize(
    ("volumes", "mounts", "expected"),
    [
        ([{"name": "c", "configMap": {"name": "missing"}}], [{"name": "c", "mountPath": "/c"}],
         "ConfigMap 'missing' not found"),
        ([{"name": "s", "secret": {}}], [{"name": "s", "mountPath": "/s"}], "secret.secretName is required"),
        ([{"name": "h", "hostPath": {"path": "rel"}}], [{"name": "h", "mountPath": "/h"}],
         "must be an absolute path"),
        ([{"name": "h", "hostPath": {"path": "/x", "type": "Dir"}}], [{"name": "h", "mountPath": "/h"}],
         "hostPath.type 'Dir'"),
        ([{"name": "e", "emptyDir": {}}], [{"name": "e", "mountPath": "/e", "subPath": "../up"}],
         "subPath '../up' must stay inside"),
        ([{"name": "e", "emptyDir": {}}], [{"name": "e"}], "volumeMounts[0].mountPath"),
        ([{"name": "e", "emptyDir": {}}], [{"name": "e", "mountPath": "relative"}], "absolute"),
        ("nope", [{"name": "e", "mountPath": "/e"}], "template.volumes must be a list"),
    ],
)
def test_bad_volumes_name_the_field(
    tmp_path: Path, volumes: Any, mounts: Any, expected: str
) -> None:
    with pytest.raises(PodSpecError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        pod_volumes([("template.volumes", volumes)], mounts, tmp_path, _lookup({}))


def test_optional_missing_config_map_is_an_empty_volume(tmp_path: Path) -> None:
    volumes = [{"name": "c", "configMap": {"name": "missing", "optional": True}}]
    (volume,), _ = pod_volumes([("v", volumes)], [{"name": "c", "mountPath": "/c"}], tmp_path)
    assert volume.source is not None and list(volume.source.iterdir()) == []


def test_unsupported_volume_kinds_are_noted_not_mounted(tmp_path: Path) -> None:
    volumes = [{"name": "p", "persistentVolumeClaim": {"claimName": "x"}}]
    found, notes = pod_volumes([("v", volumes)], [{"name": "p", "mountPath": "/p"}], tmp_path)
    assert found == [] and "not mounted locally" in notes[0]


def test_security_context_merges_pod_then_container() -> None:
    security = step_security(
        [("spec.securityContext", {"runAsUser": 1, "fsGroup": 7}),
         ("template.securityContext", {"runAsUser": 2, "runAsGroup": 3})],
        {"runAsUser": 4, "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}},
        "team-a",
    )
    assert (security.run_as_user, security.run_as_group) == (4, 3)
    assert security.supplemental_groups == (7,) and security.namespace == "team-a"
    assert security.capabilities_add == ("NET_ADMIN",) and security.capabilities_drop == ("ALL",)


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"runAsUser": "root"}, "runAsUser"),
        ({"runAsUser": -1}, "runAsUser must be a uid"),
        ({"runAsNonRoot": True, "runAsUser": 0}, "runAsNonRoot is true but runAsUser is 0"),
        ("root", "must be a mapping"),
        ({"capabilities": {"add": "NET_ADMIN"}}, "capabilities.add"),
    ],
)
def test_bad_security_contexts_name_the_field(context: Any, expected: str) -> None:
    with pytest.raises(PodSpecError, match=expected):
        step_security([], context, "default")
