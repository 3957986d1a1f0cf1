"""Namespaces and roles with `--auth`: every endpoint for no token, an unknown token, a viewer,
an editor, and an editor of another namespace (who gets 404, never 403, never the object)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from server_support import Api

from server.schemas import Role

WORLD = """apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: world-}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: make, template: make}
      - {name: fail, template: fail, depends: make}
  - name: make
    script:
      image: python:3.11
      command: [python]
      source: |
        open("/tmp/out.txt", "w").write("data\\n")
        print("made")
    outputs:
      artifacts:
      - {name: out, path: /tmp/out.txt}
  - name: fail
    container: {image: busybox, command: [sh, -c, "exit 3"]}
"""


@dataclass
class World:
    """Objects in namespace team-a: a pipeline with two versions, an empty experiment, a
    finished (Failed) run with an artifact, and a queued run."""

    pipeline: str
    version: str
    experiment: str
    run: str
    node: str
    queued: str


@dataclass
class Tokens:
    editor: str
    viewer: str
    other: str


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _build(api: Api, token: str, tag: str) -> World:
    h = _bearer(token)
    pipeline = api.client.post(
        f"/api/v1/pipelines/upload?name=world-{tag}",
        files={"uploadfile": ("w.yaml", WORLD.encode())},
        headers=h,
    ).json()
    version = api.client.post(
        f"/api/v1/pipelines/{pipeline['id']}/versions?name=v2",
        files={"uploadfile": ("w.yaml", WORLD.encode())},
        headers=h,
    ).json()
    experiment = api.client.post("/api/v1/experiments", json={"name": f"e-{tag}"}, headers=h)
    run = api.client.post("/api/v1/runs", json={"pipeline_id": pipeline["id"]}, headers=h).json()
    api.execute(run["id"])
    node = next(
        n["id"]
        for n in api.client.get(f"/api/v1/runs/{run['id']}", headers=h).json()["nodes"]
        if n["displayName"] == "make"
    )
    queued = api.client.post("/api/v1/runs", json={"pipeline_id": pipeline["id"]}, headers=h)
    return World(
        pipeline["id"], version["id"], experiment.json()["id"], run["id"], node, queued.json()["id"]
    )


Call = Callable[[World], tuple[str, str, dict[str, Any]]]

READS: dict[str, Call] = {
    "list pipelines": lambda w: ("GET", "/api/v1/pipelines", {}),
    "get pipeline": lambda w: ("GET", f"/api/v1/pipelines/{w.pipeline}", {}),
    "pipeline yaml": lambda w: ("GET", f"/api/v1/pipelines/{w.pipeline}/yaml", {}),
    "list versions": lambda w: ("GET", f"/api/v1/pipelines/{w.pipeline}/versions", {}),
    "get version": lambda w: ("GET", f"/api/v1/pipelines/{w.pipeline}/versions/{w.version}", {}),
    "version yaml": lambda w: (
        "GET",
        f"/api/v1/pipelines/{w.pipeline}/versions/{w.version}/yaml",
        {},
    ),
    "version graph": lambda w: (
        "GET",
        f"/api/v1/pipelines/{w.pipeline}/versions/{w.version}/graph",
        {},
    ),
    "list experiments": lambda w: ("GET", "/api/v1/experiments", {}),
    "get experiment": lambda w: ("GET", f"/api/v1/experiments/{w.experiment}", {}),
    "list runs": lambda w: ("GET", "/api/v1/runs", {}),
    "get run": lambda w: ("GET", f"/api/v1/runs/{w.run}", {}),
    "run graph": lambda w: ("GET", f"/api/v1/runs/{w.run}/graph", {}),
    "get node": lambda w: ("GET", f"/api/v1/runs/{w.run}/nodes/{w.node}", {}),
    "node logs": lambda w: ("GET", f"/api/v1/runs/{w.run}/nodes/{w.node}/logs", {}),
    "list artifacts": lambda w: ("GET", f"/api/v1/runs/{w.run}/artifacts", {}),
    "download artifact": lambda w: (
        "GET",
        f"/api/v1/runs/{w.run}/nodes/{w.node}/artifacts/out",
        {},
    ),
}

# name -> (call, status an editor of the namespace gets)
WRITES: dict[str, tuple[Call, int]] = {
    "upload pipeline": (
        lambda w: (
            "POST",
            "/api/v1/pipelines/upload?name=fresh",
            {"files": {"uploadfile": ("w.yaml", WORLD.encode())}},
        ),
        201,
    ),
    "create pipeline (json)": (
        lambda w: ("POST", "/api/v1/pipelines", {"json": {"name": "j", "pipeline_yaml": WORLD}}),
        201,
    ),
    "upload version": (
        lambda w: (
            "POST",
            f"/api/v1/pipelines/{w.pipeline}/versions?name=v3",
            {"files": {"uploadfile": ("w.yaml", WORLD.encode())}},
        ),
        201,
    ),
    "create experiment": (
        lambda w: ("POST", "/api/v1/experiments", {"json": {"name": "new"}}),
        201,
    ),
    "create run": (
        lambda w: ("POST", "/api/v1/runs", {"json": {"pipeline_id": w.pipeline}}),
        201,
    ),
    "stop run": (lambda w: ("POST", f"/api/v1/runs/{w.queued}/stop", {}), 202),
    "retry run": (lambda w: ("POST", f"/api/v1/runs/{w.queued}/retry", {}), 200),
    "delete run": (lambda w: ("DELETE", f"/api/v1/runs/{w.run}", {}), 204),
    "delete experiment": (lambda w: ("DELETE", f"/api/v1/experiments/{w.experiment}", {}), 204),
    "delete version": (
        lambda w: ("DELETE", f"/api/v1/pipelines/{w.pipeline}/versions/{w.version}", {}),
        204,
    ),
    "delete pipeline": (lambda w: ("DELETE", f"/api/v1/pipelines/{w.pipeline}", {}), 204),
}


@pytest.fixture
def secured(make_api: Callable[..., Api]) -> tuple[Api, Tokens, World]:
    api = make_api(auth=True)
    store = api.app.state.services.store
    tokens = Tokens(
        editor=store.create_token("team-a", Role.EDITOR),
        viewer=store.create_token("team-a", Role.VIEWER),
        other=store.create_token("team-b", Role.EDITOR),
    )
    return api, tokens, _build(api, tokens.editor, "shared")


def _call(api: Api, call: Call, world: World, token: str | None) -> Any:
    method, path, kwargs = call(world)
    headers = _bearer(token) if token is not None else {}
    return api.client.request(method, path, headers=headers, **kwargs)


ALL = {**READS, **{name: call for name, (call, _) in WRITES.items()}}


def test_no_token_or_an_unknown_token_is_401(secured: tuple[Api, Tokens, World]) -> None:
    api, tokens, world = secured
    for name, call in ALL.items():
        for token in (None, "kp_not-a-token"):
            response = _call(api, call, world, token)
            assert response.status_code == 401, (name, token, response.text)
            assert response.json()["field"] == "Authorization"
    assert len(_call(api, READS["list runs"], world, tokens.editor).json()["runs"]) == 2


def test_a_viewer_reads_everything_in_its_namespace(secured: tuple[Api, Tokens, World]) -> None:
    api, tokens, world = secured
    for name, call in READS.items():
        response = _call(api, call, world, tokens.viewer)
        assert response.status_code == 200, (name, response.text)
    runs = _call(api, READS["list runs"], world, tokens.viewer).json()
    assert {r["id"] for r in runs["runs"]} == {world.run, world.queued}


def test_a_viewer_changes_nothing(secured: tuple[Api, Tokens, World]) -> None:
    api, tokens, world = secured
    for name, (call, _) in WRITES.items():
        response = _call(api, call, world, tokens.viewer)
        assert response.status_code == 403, (name, response.text)
    assert len(_call(api, READS["list runs"], world, tokens.editor).json()["runs"]) == 2
    assert _call(api, READS["get pipeline"], world, tokens.editor).status_code == 200


def test_an_editor_changes_its_namespace(secured: tuple[Api, Tokens, World]) -> None:
    """In an order where no call undoes what a later one needs (deletes last)."""
    api, tokens, world = secured
    for name, (call, status) in WRITES.items():
        response = _call(api, call, world, tokens.editor)
        assert response.status_code == status, (name, response.text)
    assert _call(api, READS["get run"], world, tokens.editor).status_code == 404
    assert _call(api, READS["get pipeline"], world, tokens.editor).status_code == 404


def test_another_namespace_sees_nothing(secured: tuple[Api, Tokens, World]) -> None:
    api, tokens, world = secured
    for name, call in READS.items():
        response = _call(api, call, world, tokens.other)
        if name in ("list pipelines", "list experiments", "list runs"):
            assert response.status_code == 200, name
            items = next(v for v in response.json().values() if isinstance(v, list))
            assert items == [], name
        else:
            assert response.status_code == 404, (name, response.text)
    for name, (call, status) in WRITES.items():
        response = _call(api, call, world, tokens.other)
        if name.startswith(("upload pipeline", "create pipeline", "create experiment")):
            assert response.status_code == 201, name  # created in team-b, its own namespace
            assert response.json()["namespace"] == "team-b"
        else:
            assert response.status_code == 404, (name, response.text)
    # nothing of team-a was touched
    assert _call(api, READS["get run"], world, tokens.editor).json()["phase"] == "Failed"
    assert _call(api, READS["get version"], world, tokens.editor).status_code == 200


def test_asking_for_another_namespace_by_name_is_404(secured: tuple[Api, Tokens, World]) -> None:
    api, tokens, _ = secured
    for path in ("/api/v1/runs?namespace=team-a", "/api/v1/pipelines?namespace=team-a"):
        response = api.client.get(path, headers=_bearer(tokens.other))
        assert response.status_code == 404 and response.json()["field"] == "namespace"
    response = api.client.post(
        "/api/v1/experiments",
        json={"name": "sneaky", "namespace": "team-a"},
        headers=_bearer(tokens.other),
    )
    assert response.status_code == 404
    assert (
        api.client.get("/api/v1/experiments", headers=_bearer(tokens.editor)).json()["experiments"][
            0
        ]["name"]
        == "e-shared"
    )


def test_whoami(secured: tuple[Api, Tokens, World], api: Api) -> None:
    secure_api, tokens, _ = secured
    me = secure_api.client.get("/api/v1/whoami", headers=_bearer(tokens.viewer)).json()
    assert me == {"namespace": "team-a", "role": "viewer", "auth": True}
    assert api.client.get("/api/v1/whoami").json() == {
        "namespace": None,
        "role": "editor",
        "auth": False,
    }
