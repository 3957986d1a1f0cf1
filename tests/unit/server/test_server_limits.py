"""The server never blocks and never 500s on input: each limit on an upload (bytes, nesting depth,
node count) answers 413/422 naming its setting and stores nothing; intervals and schedule windows
that overflow are 422; a RecursionError anywhere is a 422; a large upload is parsed in a worker
thread while the event loop keeps answering."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import httpx
import pytest
from server_support import EXAMPLES, Api

import server.uploads

DEEP = "[" * 5000 + "]" * 5000  # the reproduction: a 500 (RecursionError) before


def _counts(api: Api) -> tuple[int, int, int, int]:
    get = api.client.get
    return (
        len(get("/api/v1/pipelines").json()["pipelines"]),
        get("/api/v1/runs").json()["total_size"],
        len(get("/api/v1/experiments").json()["experiments"]),
        len(get("/api/v1/recurring-runs").json()["recurring_runs"]),
    )


def _with_items(count: int) -> str:
    items = "\n".join(f"              - {i}" for i in range(count))
    return f"""apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: wide-
spec:
  entrypoint: main
  templates:
    - name: main
      steps:
        - - name: each
            template: echo
            arguments:
              parameters: [{{name: x, value: "{{{{item}}}}"}}]
            withItems:
{items}
    - name: echo
      inputs:
        parameters: [{{name: x}}]
      container: {{image: busybox, command: [echo, "{{{{inputs.parameters.x}}}}"]}}
"""


def _yaml_requests(api: Api, text: str) -> list[tuple[str, httpx.Response]]:
    """The same YAML through every endpoint that accepts pipeline YAML."""
    hello = api.upload(EXAMPLES / "hello-world.yaml", "hello")
    post = api.client.post
    return [
        (
            "upload",
            post(
                "/api/v1/pipelines/upload?name=x", files={"uploadfile": ("x.yaml", text.encode())}
            ),
        ),
        (
            "version",
            post(
                f"/api/v1/pipelines/{hello['id']}/versions?name=v2",
                files={"uploadfile": ("v2.yaml", text.encode())},
            ),
        ),
        ("pipeline json", post("/api/v1/pipelines", json={"name": "x", "pipeline_yaml": text})),
        ("run", post("/api/v1/runs", json={"pipeline_yaml": text})),
        (
            "recurring",
            post(
                "/api/v1/recurring-runs",
                json={"name": "x", "pipeline_yaml": text, "interval": "1h"},
            ),
        ),
    ]


def test_yaml_nested_5000_deep_is_a_422_naming_the_depth_limit(api: Api) -> None:
    for what, response in _yaml_requests(api, DEEP):
        assert response.status_code == 422, (what, response.text)
        body = response.json()
        assert "KUBEPIPE_SERVER_YAML_MAX_DEPTH" in body["detail"], body
        assert body["limit"] == {
            "setting": "yaml_max_depth",
            "env": "KUBEPIPE_SERVER_YAML_MAX_DEPTH",
            "value": 100,
        }
        assert body["field"] in ("uploadfile", "pipeline_yaml")
    assert _counts(api) == (1, 0, 0, 0)  # only the pipeline _yaml_requests uploaded first
    hello_id = api.client.get("/api/v1/pipelines").json()["pipelines"][0]["id"]
    assert api.client.get(f"/api/v1/pipelines/{hello_id}/versions").json()["versions"][1:] == []


def test_the_depth_limit_is_a_setting(make_api: Callable[..., Api]) -> None:
    api = make_api(yaml_max_depth=5)
    response = api.client.post(
        "/api/v1/pipelines/upload?name=hello",
        files={"uploadfile": ("h.yaml", (EXAMPLES / "hello-world.yaml").read_bytes())},
    )
    assert response.status_code == 422 and response.json()["limit"]["value"] == 5
    with pytest.raises(ValueError):  # the engine's loader refuses deeper YAML anyway
        make_api(yaml_max_depth=101)


def test_too_many_items_is_a_422_naming_the_node_limit(make_api: Callable[..., Api]) -> None:
    api = make_api(yaml_max_nodes=2_000)
    for what, response in _yaml_requests(api, _with_items(3_000)):
        assert response.status_code == 422, (what, response.text)
        body = response.json()
        assert body["limit"]["env"] == "KUBEPIPE_SERVER_YAML_MAX_NODES", body
        assert "KUBEPIPE_SERVER_YAML_MAX_NODES" in body["detail"]
    assert _counts(api) == (1, 0, 0, 0)
    api.upload(_with_items(1_000), "fits")  # under the limit it is an ordinary pipeline


def test_too_many_bytes_is_a_413_naming_the_size_limit(make_api: Callable[..., Api]) -> None:
    api = make_api(upload_max_bytes=4_000)
    for what, response in _yaml_requests(api, _with_items(1_000)):
        assert response.status_code == 413, (what, response.text)
        assert response.json()["limit"]["setting"] == "upload_max_bytes"
    assert _counts(api) == (1, 0, 0, 0)


def test_a_body_without_a_length_is_cut_off_at_the_cap(make_api: Callable[..., Api]) -> None:
    """A chunked body (no Content-Length) is counted as it arrives and refused once past the cap,
    never read whole; under the cap it is an ordinary request."""
    api = make_api(upload_max_bytes=50_000)

    def chunks(count: int) -> Iterator[bytes]:
        for _ in range(count):
            yield b" " * 10_000

    for path, content_type, field in [
        ("/api/v1/runs", "application/json", "body"),
        ("/api/v1/pipelines", "application/json", "body"),
        ("/api/v1/pipelines/upload?name=x", "multipart/form-data; boundary=b", "uploadfile"),
    ]:
        response = api.client.post(
            path, content=chunks(1_000), headers={"content-type": content_type}
        )
        assert response.status_code == 413, (path, response.text)
        assert response.json()["field"] == field
        assert response.json()["limit"]["env"] == "KUBEPIPE_SERVER_UPLOAD_MAX_BYTES"
    hello = json.dumps({"name": "h", "pipeline_yaml": (EXAMPLES / "hello-world.yaml").read_text()})
    ok = api.client.post(
        "/api/v1/pipelines",
        content=iter([hello[:100].encode(), hello[100:].encode()]),
        headers={"content-type": "application/json"},
    )
    assert ok.status_code == 201, ok.text
    assert _counts(api) == (1, 0, 0, 0)


@pytest.mark.parametrize(
    ("interval", "says"),
    [
        ("99999999999999999999d", "is out of range: an interval is 1s to 36500d"),  # was a 500
        ("1e999", "is out of range: an interval is 1s to 36500d"),
        ("inf", "is out of range: an interval is 1s to 36500d"),
        ("nan", "is out of range"),
        ("9" * 5000 + "d", "is out of range: an interval is 1s to 36500d"),
        ("36501d", "is out of range: an interval is 1s to 36500d"),
    ],
)
def test_interval_overflow_is_a_422_and_stores_nothing(api: Api, interval: str, says: str) -> None:
    pipeline = api.upload(EXAMPLES / "hello-world.yaml", "hello")
    preview = api.client.get("/api/v1/recurring-runs/preview", params={"interval": interval})
    assert preview.status_code == 422, preview.text
    assert preview.json()["field"] == "interval" and says in preview.json()["detail"]
    created = api.client.post(
        "/api/v1/recurring-runs",
        json={"name": "often", "pipeline_id": pipeline["id"], "interval": interval},
    )
    assert created.status_code == 422, created.text
    assert created.json()["field"] == "interval"
    assert _counts(api) == (1, 0, 0, 0)


def test_durations_in_a_manifest_are_range_checked(api: Api) -> None:
    """activeDeadlineSeconds, timeouts and backoffs are durations too: one the engine could not
    hold is a 422 at upload, not a hung or failed run later."""
    hello = (EXAMPLES / "hello-world.yaml").read_text()
    deadline = "  activeDeadlineSeconds: 99999999999999999999d\n"
    huge = hello.replace("  entrypoint: hello\n", "  entrypoint: hello\n" + deadline)
    for what, response in _yaml_requests(api, huge):
        assert response.status_code == 422, (what, response.text)
        assert response.json()["field"] == "spec.activeDeadlineSeconds", response.text
        assert "out of range" in response.json()["detail"]
    assert _counts(api) == (1, 0, 0, 0)


def test_the_longest_interval_is_accepted(api: Api) -> None:
    ok = api.client.get("/api/v1/recurring-runs/preview", params={"interval": "36500d"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["schedule"] == "every 36500d"


@pytest.mark.parametrize(
    ("window", "field"),
    [
        ({"start_time": "0001-01-01T00:00:00+14:00"}, "start_time"),
        ({"end_time": "9999-12-31T23:59:59-12:00"}, "end_time"),
        ({"start_time": "1969-12-31T23:59:59Z"}, "start_time"),
    ],
)
def test_windows_outside_representable_times_are_a_422(
    api: Api, window: dict[str, str], field: str
) -> None:
    pipeline = api.upload(EXAMPLES / "hello-world.yaml", "hello")
    for trigger in ({"interval": "1h"}, {"cron": "0 0 1 1 *"}):
        response = api.client.post(
            "/api/v1/recurring-runs",
            json={"name": "edge", "pipeline_id": pipeline["id"], **trigger, **window},
        )
        assert response.status_code == 422, response.text
        assert response.json()["field"] == field
    assert _counts(api) == (1, 0, 0, 0)


def test_a_schedule_near_the_end_of_time_has_no_more_fires(api: Api) -> None:
    pipeline = api.upload(EXAMPLES / "hello-world.yaml", "hello")
    created = api.client.post(
        "/api/v1/recurring-runs",
        json={
            "name": "last",
            "pipeline_id": pipeline["id"],
            "cron": "0 0 1 1 *",
            "start_time": "9999-12-29T00:00:00Z",
        },
    )
    assert created.status_code == 201, created.text
    nxt = api.client.get(f"/api/v1/recurring-runs/{created.json()['id']}/next")
    assert nxt.status_code == 200 and nxt.json()["times"] == []


def test_deeply_nested_json_bodies_are_4xx(api: Api) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    for path in ("/api/v1/runs", "/api/v1/experiments", "/api/v1/recurring-runs"):
        response = api.client.post(
            path,
            content=f'{{"parameters": {deep}}}'.encode(),
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 422, (path, response.text)
        assert "nests too deeply" in response.json()["detail"]
    nested: Any = "x"
    for _ in range(900):
        nested = {"a": nested}
    response = api.client.post(
        "/api/v1/runs",
        content=json.dumps({"pipeline_id": "p", "parameters": nested}).encode(),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422 and response.json()["field"].startswith("parameters")


def test_a_recursion_error_while_handling_is_a_422(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    def recurse(*_: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(server.uploads, "check_shape", recurse)
    hello = (EXAMPLES / "hello-world.yaml").read_text()
    response = api.client.post("/api/v1/pipelines", json={"name": "h", "pipeline_yaml": hello})
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid" and "nests too deeply" in response.json()["detail"]


def test_health_is_answered_while_an_upload_is_being_parsed(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's 11 s: a 60k-item upload was parsed on the event loop. Here the parse is held
    until the test releases it, and the test releases it only after /healthz has answered, which
    can only happen if the parse runs off the loop. (The hold has a safety timeout so that a
    regression fails instead of hanging; what is asserted is the order of events, never a
    duration.)"""
    entered, released, done = threading.Event(), threading.Event(), threading.Event()
    original = server.uploads.check_shape
    seen: dict[str, Any] = {}

    def held(*args: Any) -> None:
        entered.set()
        seen["released_by_test"] = released.wait(timeout=15)
        done.set()
        original(*args)

    monkeypatch.setattr(server.uploads, "check_shape", held)
    text = _with_items(60_000).encode()

    async def main() -> None:
        transport = httpx.ASGITransport(app=api.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:

            async def upload() -> None:
                response = await client.post(
                    "/api/v1/pipelines/upload?name=wide",
                    files={"uploadfile": ("wide.yaml", text)},
                    timeout=120,
                )
                seen["upload"] = response.status_code

            async with anyio.create_task_group() as group:
                group.start_soon(upload)
                await anyio.to_thread.run_sync(entered.wait, 15)
                health = await client.get("/healthz")
                seen["healthz"] = health.status_code
                seen["parse_still_held"] = not done.is_set()
                released.set()

    anyio.run(main)
    assert seen["healthz"] == 200 and seen["parse_still_held"], seen
    assert seen["released_by_test"] and seen["upload"] == 201, seen


def test_lone_surrogates_are_a_422_naming_the_field(api: Api) -> None:
    """JSON can escape a lone surrogate and YAML can too (`\\uD800`); neither is text, and both
    were 500s (the database driver cannot encode them)."""
    hello = (EXAMPLES / "hello-world.yaml").read_text()
    for path, raw, field in [
        ("/api/v1/pipelines", '{"name": "x", "pipeline_yaml": "\\ud800"}', "pipeline_yaml"),
        ("/api/v1/runs", '{"pipeline_id": "\\udfff"}', "pipeline_id"),
        ("/api/v1/runs", '{"pipeline_id": "p", "parameters": {"\\ud800": "x"}}', "parameters"),
        ("/api/v1/experiments", '{"name": "x", "namespace": "\\udc80"}', "namespace"),
        ("/api/v1/recurring-runs", '{"name": "x", "pipeline_id": "p", "cron": "\\ud800"}', "cron"),
    ]:
        response = api.client.post(
            path, content=raw.encode(), headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, (path, response.text)
        assert response.json()["field"] == field and "surrogate" in response.json()["detail"]
    escaped = hello.replace("generateName: hello-world-", 'generateName: "h-\\uD800-"')
    for what, response in _yaml_requests(api, escaped):
        assert response.status_code == 422, (what, response.text)
        assert "lone surrogate" in response.json()["detail"]
    assert _counts(api) == (1, 0, 0, 0)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_nul_characters_are_a_422_naming_the_field(
    make_api: Callable[..., Api], database: str
) -> None:
    """PostgreSQL refuses NUL in text: a NUL in a JSON field, a path or query parameter, or a YAML
    escape was a 500 there. Each is refused where it comes in, naming the field."""
    from server_support import postgres_url

    urls = postgres_url() if database == "postgresql" else iter([None])
    for url in urls:
        api = make_api(db_url=url)
        hello = (EXAMPLES / "hello-world.yaml").read_text()
        for path, body, field in [
            ("/api/v1/experiments", {"name": "x", "description": "a\x00b"}, "description"),
            ("/api/v1/experiments", {"name": "x", "namespace": "\x00"}, "namespace"),
            ("/api/v1/runs", {"pipeline_id": "p\x00"}, "pipeline_id"),
            ("/api/v1/runs", {"pipeline_yaml": hello, "namespace": "n\x00"}, "namespace"),
        ]:
            response = api.client.post(path, json=body)
            assert response.status_code == 422, (path, response.text)
            assert response.json()["field"] == field and "NUL" in response.json()["detail"]
        for path, field in [
            ("/api/v1/runs/%00", "run_id"),
            ("/api/v1/pipelines/%00", "pipeline_id"),
            ("/api/v1/recurring-runs/%00", "recurring_id"),
            ("/api/v1/runs?name=%00", "name"),
            ("/api/v1/runs?namespace=%00", "namespace"),
        ]:
            response = api.client.get(path)
            assert response.status_code == 422, (path, response.text)
            assert response.json()["field"] == field
        escaped = hello.replace("generateName: hello-world-", 'generateName: "h-\\0-"')
        for what, response in _yaml_requests(api, escaped):
            assert response.status_code == 422, (what, response.text)
            assert "a NUL" in response.json()["detail"]
        assert _counts(api) == (1, 0, 0, 0)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_long_namespaces_and_names_are_a_422(make_api: Callable[..., Api], database: str) -> None:
    """PostgreSQL cannot index a long incompressible value: a 10,000-character random namespace or
    generateName was a 500 there. Namespaces are DNS labels and names at most 253 characters, as
    on Kubernetes, on either database."""
    import secrets

    from server_support import postgres_url

    urls = postgres_url() if database == "postgresql" else iter([None])
    for url in urls:
        api = make_api(db_url=url)
        hello = (EXAMPLES / "hello-world.yaml").read_text()
        namespace = secrets.token_hex(5000)
        for path, body in [
            ("/api/v1/experiments", {"name": "x", "namespace": namespace}),
            ("/api/v1/runs", {"pipeline_yaml": hello, "namespace": namespace}),
            (
                "/api/v1/recurring-runs",
                {"name": "r", "pipeline_yaml": hello, "interval": "1h", "namespace": namespace},
            ),  # fmt: skip
            (f"/api/v1/pipelines?namespace={namespace}", {"name": "p", "pipeline_yaml": hello}),
            ("/api/v1/experiments", {"name": "x", "namespace": "Team_A"}),
        ]:
            response = api.client.post(path, json=body)
            assert response.status_code == 422, (path[:40], response.text[:300])
            assert response.json()["field"] == "namespace"
        long_name = hello.replace(
            "generateName: hello-world-", "generateName: g" + secrets.token_hex(5000)
        )
        for what, response in _yaml_requests(api, long_name):
            assert response.status_code == 422, (what, response.text[:300])
            assert response.json()["field"] == "metadata.generateName"
        assert _counts(api) == (1, 0, 0, 0)
