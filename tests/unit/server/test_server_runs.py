"""Runs API with the real engine: create (pipeline, version, inline YAML, parameters), get in the
`kubepipe get -o json` shape, paged lists, the live graph, logs (followed), artifacts with HTTP
ranges, stop, retry, delete, and bad input refused with nothing half-stored."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from click.testing import CliRunner
from server_support import EXAMPLES, Api

from engine.cli import main as kubepipe

DIAMOND = EXAMPLES / "dag-diamond.yaml"


def _run_count(api: Api) -> int:
    return int(api.client.get("/api/v1/runs").json()["total_size"])


def test_a_run_reads_exactly_as_kubepipe_get_json(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = api.upload(DIAMOND, "diamond")
    run = api.start(pipeline["id"])
    assert api.client.get(f"/api/v1/runs/{run['id']}").json()["phase"] == "Pending"
    assert api.execute(run["id"]) == "Succeeded"
    body = api.client.get(f"/api/v1/runs/{run['id']}").json()
    monkeypatch.setenv("KUBEPIPE_HOME", str(api.settings.engine.home))
    monkeypatch.delenv("KUBEPIPE_DB_URL", raising=False)
    cli = CliRunner().invoke(kubepipe, ["get", run["id"], "-o", "json"], catch_exceptions=False)
    expected = json.loads(cli.stdout)
    assert {k: body[k] for k in expected} == expected
    assert body["phase"] == "Succeeded" and body["outputs"]["entryParameters"]["total"] == "112"
    assert body["pipelineId"] == pipeline["id"] and body["namespace"] == "default"


def test_graph_colors_every_node_by_phase_and_draws_depends(api: Api) -> None:
    run = api.start(api.upload(DIAMOND, "diamond")["id"])
    api.execute(run["id"])
    graph = api.client.get(f"/api/v1/runs/{run['id']}/graph").json()
    by_label = {n["label"]: n for n in graph["nodes"]}
    assert {by_label[t]["phase"] for t in "ABCD"} == {"Succeeded"}
    ids = {label: node["id"] for label, node in by_label.items()}
    edges = {(a, b) for a, b in graph["edges"]}
    assert {(ids["A"], ids["B"]), (ids["B"], ids["D"]), (ids["C"], ids["D"])} <= edges
    assert by_label["D"]["layer"] == by_label["A"]["layer"] + 2


def test_parameters_and_inline_yaml(api: Api) -> None:
    yaml_text = (EXAMPLES / "parameters.yaml").read_text()
    response = api.client.post(
        "/api/v1/runs",
        json={"pipeline_yaml": yaml_text, "parameters": {"message": "from api", "times": "1"}},
    )
    assert response.status_code == 201, response.text
    run_id = response.json()["id"]
    assert api.execute(run_id) == "Succeeded"
    body = api.client.get(f"/api/v1/runs/{run_id}").json()
    assert body["parameters"] == {"message": "from api", "times": "1"}
    step = next(n for n in body["nodes"] if n["type"] == "Pod")
    logs = api.client.get(f"/api/v1/runs/{run_id}/nodes/{step['id']}/logs")
    assert logs.status_code == 200 and logs.text.strip() == "from api"
    detail = api.client.get(f"/api/v1/runs/{run_id}/nodes/{step['id']}").json()
    assert detail["inputs"]["parameters"]["message"] == "from api"
    assert [e["to"] for e in detail["events"]][-1] == "Succeeded"


def test_pipeline_version_id_runs_that_version(api: Api) -> None:
    pipeline = api.upload(DIAMOND, "diamond")
    old_version = pipeline["default_version_id"]
    api.client.post(
        f"/api/v1/pipelines/{pipeline['id']}/versions?name=v2",
        files={"uploadfile": ("h.yaml", (EXAMPLES / "hello-world.yaml").read_bytes())},
    )
    response = api.client.post(
        "/api/v1/runs", json={"pipeline_version_id": old_version, "parameters": {}}
    )
    assert response.status_code == 201
    run = api.client.get(f"/api/v1/runs/{response.json()['id']}").json()
    assert run["pipelineVersionId"] == old_version and run["name"].startswith("dag-diamond-")


def test_list_pages_filters_and_sorts(api: Api) -> None:
    pipeline = api.upload(DIAMOND, "diamond")
    experiment = api.client.post("/api/v1/experiments", json={"name": "exp"}).json()
    ids = [api.start(pipeline["id"])["id"] for _ in range(4)]
    in_exp = api.client.post(
        "/api/v1/runs", json={"pipeline_id": pipeline["id"], "experiment_id": experiment["id"]}
    ).json()["id"]
    api.execute(ids[0])
    first = api.client.get("/api/v1/runs?page_size=2").json()
    assert first["total_size"] == 5 and first["next_page"] == 2 and len(first["runs"]) == 2
    last = api.client.get("/api/v1/runs?page_size=2&page=3").json()
    assert len(last["runs"]) == 1 and last["next_page"] is None
    seen = [
        r["id"]
        for p in (1, 2, 3)
        for r in api.client.get(f"/api/v1/runs?page_size=2&page={p}").json()["runs"]
    ]
    assert sorted(seen) == sorted(ids + [in_exp])
    done = api.client.get("/api/v1/runs?phase=Succeeded").json()["runs"]
    assert [r["id"] for r in done] == [ids[0]]
    pending = api.client.get("/api/v1/runs?phase=Pending&phase=Running").json()
    assert pending["total_size"] == 4
    grouped = api.client.get(f"/api/v1/runs?experiment_id={experiment['id']}").json()["runs"]
    assert [r["id"] for r in grouped] == [in_exp]
    assert api.client.get(f"/api/v1/experiments/{experiment['id']}").json()["runs"] == 1
    oldest = api.client.get("/api/v1/runs?sort=created_at&order=asc&page_size=1").json()
    assert oldest["runs"][0]["id"] == ids[0]
    future = api.client.get("/api/v1/runs?created_after=2999-01-01T00:00:00Z").json()
    assert future["total_size"] == 0
    by_pipeline = api.client.get(f"/api/v1/runs?pipeline_id={pipeline['id']}").json()
    assert by_pipeline["total_size"] == 5
    both = f"/api/v1/runs?pipeline_id={pipeline['id']}&experiment_id={experiment['id']}"
    assert [r["id"] for r in api.client.get(both).json()["runs"]] == [in_exp]
    assert api.client.get("/api/v1/runs?pipeline_id=nope").json()["total_size"] == 0


def test_list_by_name_substring_sort_and_links(api: Api) -> None:
    pipeline = api.upload(DIAMOND, "diamond")
    made = {
        name: api.client.post(
            "/api/v1/runs", json={"pipeline_id": pipeline["id"], "name": name}
        ).json()["id"]
        for name in ("nightly-b", "nightly-a", "adhoc")
    }
    found = api.client.get("/api/v1/runs?name=NIGHTLY&sort=name&order=asc").json()
    assert [r["name"] for r in found["runs"]] == ["nightly-a", "nightly-b"]  # case-insensitive
    assert found["total_size"] == 2 and found["next_page"] is None
    assert {r["pipeline_id"] for r in found["runs"]} == {pipeline["id"]}
    by_name = api.client.get("/api/v1/runs?sort=name&order=desc&page_size=1&page=3").json()
    assert [r["id"] for r in by_name["runs"]] == [made["adhoc"]]
    past_the_end = api.client.get("/api/v1/runs?page=99").json()
    assert past_the_end["runs"] == [] and past_the_end["total_size"] == 3


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=0", "page"),
        ("page=-3", "page"),
        ("page_size=0", "page_size"),
        ("page_size=100000", "page_size"),
        ("page=abc", "page"),
        ("phase=Sleeping", "phase"),
        ("sort=colour", "sort"),
        ("order=sideways", "order"),
        ("created_after=yesterday", "created_after"),
    ],
)
def test_bad_list_queries_are_422_naming_the_field(api: Api, query: str, field: str) -> None:
    response = api.client.get(f"/api/v1/runs?{query}")
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({}, 422, "pipeline_id"),
        ({"pipeline_id": "nope"}, 404, "pipeline_id"),
        ({"pipeline_version_id": "nope"}, 404, "pipeline_version_id"),
        ({"pipeline_yaml": "kind: [\n"}, 422, "pipeline_yaml"),
        ({"pipeline_yaml": "a: 1\n", "pipeline_id": "x"}, 422, "pipeline_yaml"),
        ({"pipeline_id": "PIPE", "parameters": {"message": 3}}, 422, "parameters.message"),
        ({"pipeline_id": "PIPE", "parameters": "x=1"}, 422, "parameters"),
        ({"pipeline_id": "PIPE", "experiment_id": "nope"}, 404, "experiment_id"),
        ({"pipeline_id": "PIPE", "name": "Bad Name!"}, 422, "name"),
    ],
)
def test_bad_run_requests_store_nothing(api: Api, body: dict, status: int, field: str) -> None:
    pipeline = api.upload(EXAMPLES / "parameters.yaml", "params")
    body = {k: (pipeline["id"] if v == "PIPE" else v) for k, v in body.items()}
    response = api.client.post("/api/v1/runs", json=body)
    assert response.status_code == status, response.text
    assert response.json()["field"] == field
    assert _run_count(api) == 0


def test_an_enum_parameter_outside_its_enum_is_422(api: Api) -> None:
    text = (
        (EXAMPLES / "parameters.yaml")
        .read_text()
        .replace("      value: hello kubepipe", "      value: hello\n      enum: [hello, bye]")
    )
    pipeline = api.upload(text, "enum")
    response = api.client.post(
        "/api/v1/runs", json={"pipeline_id": pipeline["id"], "parameters": {"message": "nope"}}
    )
    assert response.status_code == 422 and "is not one of" in response.json()["detail"]
    assert _run_count(api) == 0


def test_bad_json_body_is_400(api: Api) -> None:
    response = api.client.post(
        "/api/v1/runs", content=b'{"pipeline_id": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and response.json()["error"] == "bad request"


def test_stop_a_queued_run_then_delete_it(api: Api) -> None:
    run = api.start(api.upload(DIAMOND, "diamond")["id"])
    stopped = api.client.post(f"/api/v1/runs/{run['id']}/stop")
    assert stopped.status_code == 202 and stopped.json()["phase"] == "Failed"
    body = api.client.get(f"/api/v1/runs/{run['id']}").json()
    assert "Stopped by user" in body["message"]
    again = api.client.post(f"/api/v1/runs/{run['id']}/stop")
    assert again.status_code == 409
    assert api.client.delete(f"/api/v1/runs/{run['id']}").status_code == 204
    assert api.client.get(f"/api/v1/runs/{run['id']}").status_code == 404
    assert api.client.delete(f"/api/v1/runs/{run['id']}").status_code == 404


def test_deleting_an_unfinished_run_is_409(api: Api) -> None:
    run = api.start(api.upload(DIAMOND, "diamond")["id"])
    response = api.client.delete(f"/api/v1/runs/{run['id']}")
    assert response.status_code == 409 and "stop it first" in response.json()["detail"]
    assert _run_count(api) == 1


def test_retry_a_failed_run_runs_its_failed_steps_again_in_place(api: Api) -> None:
    pipeline = api.upload(EXAMPLES / "failing-step.yaml", "failing")
    run = api.start(pipeline["id"])
    assert api.client.post(f"/api/v1/runs/{run['id']}/retry").status_code == 409
    assert api.execute(run["id"]) == "Failed"
    before = api.client.get(f"/api/v1/runs/{run['id']}").json()
    response = api.client.post(f"/api/v1/runs/{run['id']}/retry")
    assert response.status_code == 200, response.text
    retry = response.json()
    assert retry["id"] == run["id"] and retry["phase"] == "Pending"
    assert api.client.post(f"/api/v1/runs/{run['id']}/retry").status_code == 409  # queued now
    got = api.client.get(f"/api/v1/runs/{run['id']}").json()
    assert got["pipelineId"] == pipeline["id"] and got["phase"] == "Pending"
    kept = {n["displayName"] for n in got["nodes"]}
    assert kept < {n["displayName"] for n in before["nodes"]}  # the failed steps were forgotten
    assert api.execute(run["id"]) == "Failed"  # the step fails by design, again


def test_artifacts_metadata_and_ranged_download(api: Api) -> None:
    run = api.start(api.upload(EXAMPLES / "artifact-passing.yaml", "arts")["id"])
    assert api.execute(run["id"]) == "Succeeded"
    listed = api.client.get(f"/api/v1/runs/{run['id']}/artifacts").json()["artifacts"]
    message = next(a for a in listed if a["name"] == "message")
    assert message["size"] == len(b"hello from generate\n")
    whole = api.client.get(message["download"])
    assert whole.status_code == 200 and whole.content == b"hello from generate\n"
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-security-policy"] == "sandbox"
    part = api.client.get(message["download"], headers={"Range": "bytes=6-9"})
    assert part.status_code == 206 and part.content == b"from"
    assert part.headers["content-range"] == f"bytes 6-9/{message['size']}"
    tail = api.client.get(message["download"], headers={"Range": "bytes=-9"})
    assert tail.content == b"generate\n"
    beyond = api.client.get(message["download"], headers={"Range": "bytes=999-"})
    assert beyond.status_code == 416 and beyond.json()["field"] == "Range"
    node = message["node_id"]
    for name in ("../../etc/passwd", "..%2F..%2Fkubepipe.db", "nothing"):
        response = api.client.get(f"/api/v1/runs/{run['id']}/nodes/{node}/artifacts/{name}")
        assert response.status_code == 404, name
    dataset = next(a for a in listed if a["name"] == "dataset")
    assert dataset["archived"] is True
    assert api.client.get(dataset["download"]).content[:2] == b"\x1f\x8b"  # gzip


def test_follow_streams_logs_until_the_run_ends(api: Api) -> None:
    run = api.start(api.upload(EXAMPLES / "failing-step.yaml", "failing")["id"])
    api.execute(run["id"])
    nodes = api.client.get(f"/api/v1/runs/{run['id']}").json()["nodes"]
    fail = next(n for n in nodes if n["displayName"] == "fail")
    with api.client.stream(
        "GET", f"/api/v1/runs/{run['id']}/nodes/{fail['id']}/logs?follow=true"
    ) as response:
        text = b"".join(response.iter_bytes()).decode()
    assert "about to fail" in text
    missing = api.client.get(f"/api/v1/runs/{run['id']}/nodes/nope/logs")
    assert missing.status_code == 404 and missing.json()["field"] == "node_id"


def test_unknown_run_ids_are_404_everywhere(api: Api) -> None:
    calls: list[tuple[str, str]] = [
        ("GET", "/api/v1/runs/nope"),
        ("GET", "/api/v1/runs/nope/graph"),
        ("GET", "/api/v1/runs/nope/nodes/x"),
        ("GET", "/api/v1/runs/nope/nodes/x/logs"),
        ("GET", "/api/v1/runs/nope/artifacts"),
        ("GET", "/api/v1/runs/nope/nodes/x/artifacts/y"),
        ("POST", "/api/v1/runs/nope/stop"),
        ("POST", "/api/v1/runs/nope/retry"),
        ("DELETE", "/api/v1/runs/nope"),
    ]
    for method, path in calls:
        response = api.client.request(method, path)
        assert response.status_code == 404, (method, path)
        assert response.json()["field"] == "run_id"


def test_a_run_name_or_id_prefix_is_not_an_id(api: Api) -> None:
    run = api.start(api.upload(DIAMOND, "diamond")["id"])
    assert api.client.get(f"/api/v1/runs/{run['name']}").status_code == 404
    assert api.client.get(f"/api/v1/runs/{run['id'][:6]}").status_code == 404


def test_experiments(api: Api) -> None:
    created = api.client.post("/api/v1/experiments", json={"name": "tuning"})
    assert created.status_code == 201
    experiment = created.json()
    dup = api.client.post("/api/v1/experiments", json={"name": "tuning"})
    assert dup.status_code == 409 and dup.json()["field"] == "name"
    bad = api.client.post("/api/v1/experiments", json={"name": ""})
    assert bad.status_code == 422 and bad.json()["field"] == "name"
    listed = api.client.get("/api/v1/experiments").json()["experiments"]
    assert [e["name"] for e in listed] == ["tuning"]
    pipeline = api.upload(DIAMOND, "diamond")
    api.client.post(
        "/api/v1/runs", json={"pipeline_id": pipeline["id"], "experiment_id": experiment["id"]}
    )
    busy = api.client.delete(f"/api/v1/experiments/{experiment['id']}")
    assert busy.status_code == 409
    empty = api.client.post("/api/v1/experiments", json={"name": "empty"}).json()
    assert api.client.delete(f"/api/v1/experiments/{empty['id']}").status_code == 204
    assert api.client.get(f"/api/v1/experiments/{empty['id']}").status_code == 404


def test_the_whole_flow_on_postgresql(make_api: Callable[..., Api]) -> None:
    from server_support import postgres_url

    for url in postgres_url():
        api = make_api(db_url=url)
        pipeline = api.upload(DIAMOND, "diamond")
        run = api.start(pipeline["id"])
        assert api.execute(run["id"]) == "Succeeded"
        page = api.client.get("/api/v1/runs?phase=Succeeded&page_size=1").json()
        assert page["total_size"] == 1 and page["runs"][0]["pipeline_id"] is not None
        body = api.client.get(f"/api/v1/runs/{run['id']}").json()
        assert [n["phase"] for n in body["nodes"]].count("Succeeded") == 5
        hello = (EXAMPLES / "hello-world.yaml").read_bytes()
        v2 = api.client.post(
            f"/api/v1/pipelines/{pipeline['id']}/versions?name=v2",
            files={"uploadfile": ("hello.yaml", hello)},
        ).json()
        [row] = api.client.get("/api/v1/pipelines").json()["pipelines"]
        assert row["default_version_id"] == v2["id"] and row["versions"] == 2
