"""Pipelines API: upload as KFP does, versions, the YAML back, graph preview, delete, and every
kind of bad upload refused with a message naming the field (and line), with nothing stored."""

from __future__ import annotations

import pytest
from server_support import EXAMPLES, Api

DIAMOND = EXAMPLES / "dag-diamond.yaml"
BAD_ENTRYPOINT = """apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: bad-}
spec:
  entrypoint: nowhere
  templates:
  - name: only
    container: {image: busybox, command: [echo, hi]}
"""


def _count(api: Api) -> int:
    return len(api.client.get("/api/v1/pipelines").json()["pipelines"])


def test_upload_returns_the_id_and_the_yaml_comes_back_unchanged(api: Api) -> None:
    created = api.upload(DIAMOND, "diamond")
    assert created["name"] == "diamond" and created["versions"] == 1
    got = api.client.get(f"/api/v1/pipelines/{created['id']}").json()
    assert got["default_version_id"] == created["default_version_id"]
    yaml_back = api.client.get(f"/api/v1/pipelines/{created['id']}/yaml")
    assert yaml_back.status_code == 200
    assert yaml_back.text == DIAMOND.read_text()


def test_versions_newest_is_the_default_and_each_has_its_yaml(api: Api) -> None:
    pipeline = api.upload(DIAMOND, "diamond")
    hello = (EXAMPLES / "hello-world.yaml").read_bytes()
    response = api.client.post(
        f"/api/v1/pipelines/{pipeline['id']}/versions?name=v2",
        files={"uploadfile": ("hello.yaml", hello)},
    )
    assert response.status_code == 201, response.text
    v2 = response.json()
    listed = api.client.get(f"/api/v1/pipelines/{pipeline['id']}/versions").json()["versions"]
    assert [v["name"] for v in listed] == ["v2", "diamond"]
    assert (
        api.client.get(f"/api/v1/pipelines/{pipeline['id']}").json()["default_version_id"]
        == v2["id"]
    )
    [row] = api.client.get("/api/v1/pipelines").json()["pipelines"]
    assert row["default_version_id"] == v2["id"] and row["versions"] == 2
    text = api.client.get(f"/api/v1/pipelines/{pipeline['id']}/versions/{v2['id']}/yaml").text
    assert text == hello.decode()
    dup = api.client.post(
        f"/api/v1/pipelines/{pipeline['id']}/versions?name=v2",
        files={"uploadfile": ("hello.yaml", hello)},
    )
    assert dup.status_code == 409 and dup.json()["field"] == "name"
    gone = api.client.delete(f"/api/v1/pipelines/{pipeline['id']}/versions/{v2['id']}")
    assert gone.status_code == 204
    assert api.client.get(f"/api/v1/pipelines/{pipeline['id']}").json()["versions"] == 1


def test_graph_preview_follows_depends(api: Api) -> None:
    pipeline = api.upload(DIAMOND, "diamond")
    graph = api.client.get(
        f"/api/v1/pipelines/{pipeline['id']}/versions/{pipeline['default_version_id']}/graph"
    ).json()
    layers = {n["label"]: n["layer"] for n in graph["nodes"]}
    assert layers == {"A": 0, "B": 1, "C": 1, "D": 2}
    assert sorted(map(tuple, graph["edges"])) == [("A", "B"), ("A", "C"), ("B", "D"), ("C", "D")]


def test_json_upload_and_delete(api: Api) -> None:
    response = api.client.post(
        "/api/v1/pipelines", json={"name": "hello", "pipeline_yaml": DIAMOND.read_text()}
    )
    assert response.status_code == 201, response.text
    pipeline_id = response.json()["id"]
    assert api.client.delete(f"/api/v1/pipelines/{pipeline_id}").status_code == 204
    assert api.client.get(f"/api/v1/pipelines/{pipeline_id}").status_code == 404
    assert api.client.delete(f"/api/v1/pipelines/{pipeline_id}").status_code == 404


def test_an_invalid_pipeline_is_422_with_field_and_line_and_nothing_stored(api: Api) -> None:
    response = api.client.post(
        "/api/v1/pipelines/upload?name=bad",
        files={"uploadfile": ("bad.yaml", BAD_ENTRYPOINT.encode())},
    )
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid" and body["field"] == "spec.entrypoint"
    assert body["problems"][0]["line"] == 5
    assert "bad.yaml:5" in body["detail"] and "nowhere" in body["detail"]
    assert _count(api) == 0


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        (b"kind: Workflow\nspec: [unclosed\n", "uploadfile", "YAML syntax error"),
        (b"\xff\xfe\x00garbage", "uploadfile", "not UTF-8"),
        (b"   \n", "uploadfile", "empty"),
        (b"/etc/passwd", "uploadfile", "mapping"),
        (b"apiVersion: v1\nkind: ConfigMap\n", "kind", "unsupported kind"),
    ],
    ids=["yaml-syntax", "not-utf8", "empty", "one-line-path", "wrong-kind"],
)
def test_bad_uploads_name_the_field(api: Api, payload: bytes, field: str, words: str) -> None:
    response = api.client.post(
        "/api/v1/pipelines/upload?name=x", files={"uploadfile": ("x.yaml", payload)}
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["field"] == field and words in body["detail"], body
    assert _count(api) == 0


def test_missing_uploadfile_and_bad_name(api: Api) -> None:
    missing = api.client.post(
        "/api/v1/pipelines/upload?name=x", files={"other": ("x.yaml", b"a: 1\n")}
    )
    assert missing.status_code == 422 and missing.json()["field"] == "uploadfile"
    bad_name = api.client.post(
        "/api/v1/pipelines/upload?name=-bad/name",
        files={"uploadfile": ("x.yaml", DIAMOND.read_bytes())},
    )
    assert bad_name.status_code == 422 and bad_name.json()["field"] == "name"
    assert _count(api) == 0


def test_the_same_name_twice_is_409_and_keeps_the_first(api: Api) -> None:
    first = api.upload(DIAMOND, "diamond")
    again = api.client.post(
        "/api/v1/pipelines/upload?name=diamond",
        files={"uploadfile": ("d.yaml", (EXAMPLES / "hello-world.yaml").read_bytes())},
    )
    assert again.status_code == 409 and again.json()["field"] == "name"
    pipelines = api.client.get("/api/v1/pipelines").json()["pipelines"]
    assert [p["id"] for p in pipelines] == [first["id"]]
    assert pipelines[0]["versions"] == 1


def test_oversized_uploads_are_413(make_api) -> None:  # type: ignore[no-untyped-def]
    api = make_api(upload_max_bytes=2048)
    big = DIAMOND.read_bytes() + b"#" + b"x" * 4096 + b"\n"
    response = api.client.post(
        "/api/v1/pipelines/upload?name=big", files={"uploadfile": ("big.yaml", big)}
    )
    assert response.status_code == 413 and response.json()["field"] == "uploadfile"
    huge = b"#" * (2048 + 70 * 1024)  # refused from Content-Length before reading
    response = api.client.post(
        "/api/v1/pipelines/upload?name=big", files={"uploadfile": ("big.yaml", huge)}
    )
    assert response.status_code == 413
    as_json = api.client.post(
        "/api/v1/pipelines", json={"name": "big", "pipeline_yaml": big.decode()}
    )
    assert as_json.status_code == 413 and as_json.json()["field"] == "pipeline_yaml"
    assert _count(api) == 0


def test_an_alias_bomb_is_refused_quickly(api: Api) -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        refs = ",".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    bomb = "\n".join(lines) + "\nkind: Workflow\n"
    response = api.client.post(
        "/api/v1/pipelines/upload?name=bomb", files={"uploadfile": ("bomb.yaml", bomb.encode())}
    )
    assert response.status_code == 422
    body = response.json()
    assert "alias" in body["detail"] and "KUBEPIPE_SERVER_YAML_MAX_NODES" in body["detail"]
    assert body["limit"]["setting"] == "yaml_max_nodes"
    assert _count(api) == 0


def test_unknown_ids_are_404_naming_the_field(api: Api) -> None:
    pipeline = api.upload(DIAMOND, "diamond")
    for path, field in [
        ("/api/v1/pipelines/nope", "pipeline_id"),
        ("/api/v1/pipelines/nope/yaml", "pipeline_id"),
        ("/api/v1/pipelines/nope/versions", "pipeline_id"),
        (f"/api/v1/pipelines/{pipeline['id']}/versions/nope", "pipeline_version_id"),
        (f"/api/v1/pipelines/{pipeline['id']}/versions/nope/graph", "pipeline_version_id"),
    ]:
        response = api.client.get(path)
        assert response.status_code == 404, path
        assert response.json()["field"] == field
    assert set(response.json()) >= {"error", "detail", "field"}


def test_json_body_errors(api: Api) -> None:
    bad_json = api.client.post(
        "/api/v1/pipelines", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert bad_json.status_code == 400 and bad_json.json()["field"] == "body"
    unknown = api.client.post(
        "/api/v1/pipelines", json={"name": "x", "pipeline_yaml": "a: 1\n", "colour": "red"}
    )
    assert unknown.status_code == 422 and unknown.json()["field"] == "colour"
    missing = api.client.post("/api/v1/pipelines", json={"name": "x"})
    assert missing.status_code == 422 and missing.json()["field"] == "pipeline_yaml"
    assert _count(api) == 0
