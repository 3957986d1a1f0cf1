"""Recurring runs API over the scheduler's store: create, preview, next times, enable/disable,
delete, bad schedules naming the field with nothing stored, and namespaces."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from server_support import EXAMPLES, Api

from server.schemas import Role


def _count(api: Api, headers: dict[str, str] | None = None) -> int:
    return len(api.client.get("/api/v1/recurring-runs", headers=headers).json()["recurring_runs"])


def test_create_list_next_disable_enable_delete(api: Api) -> None:
    pipeline = api.upload(EXAMPLES / "parameters.yaml", "params")
    created = api.client.post(
        "/api/v1/recurring-runs",
        json={
            "name": "nightly",
            "pipeline_id": pipeline["id"],
            "cron": "30 2 * * *",
            "timezone": "Europe/Berlin",
            "parameters": {"times": "1"},
        },
    )
    assert created.status_code == 201, created.text
    rec = created.json()
    assert rec["enabled"] and rec["nextFireTime"].endswith(("+01:00", "+02:00"))
    assert rec["parameters"] == {"times": "1"} and rec["namespace"] == "default"
    nxt = api.client.get(f"/api/v1/recurring-runs/{rec['id']}/next?count=3").json()
    assert len(nxt["times"]) == 3 and all("T02:30:00" in t for t in nxt["times"])
    off = api.client.post(f"/api/v1/recurring-runs/{rec['id']}/disable").json()
    assert off["enabled"] is False and off["nextFireTime"] is None
    on = api.client.post(f"/api/v1/recurring-runs/{rec['id']}/enable").json()
    assert on["enabled"] is True and on["nextFireTime"] is not None
    got = api.client.get(f"/api/v1/recurring-runs/{rec['id']}").json()
    assert got["runs"] == []
    dup = api.client.post(
        "/api/v1/recurring-runs",
        json={"name": "nightly", "pipeline_id": pipeline["id"], "interval": "1h"},
    )
    assert dup.status_code == 409 and dup.json()["field"] == "name"
    assert api.client.delete(f"/api/v1/recurring-runs/{rec['id']}").status_code == 204
    assert api.client.get(f"/api/v1/recurring-runs/{rec['id']}").status_code == 404
    assert _count(api) == 0


def test_preview_while_typing(api: Api) -> None:
    every = api.client.get("/api/v1/recurring-runs/preview?interval=15m&count=5").json()
    assert every["schedule"] == "every 15m" and len(every["times"]) == 5
    cron = api.client.get("/api/v1/recurring-runs/preview", params={"cron": "0 9 * * 1-5"})
    assert cron.status_code == 200 and len(cron.json()["times"]) == 5


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "* * *"}, "cron"),
        ({"interval": "soon"}, "interval"),
        ({"interval": "1h", "timezone": "Mars/Base"}, "timezone"),
        ({"interval": "1h", "start_time": "tomorrow"}, "start_time"),
        ({}, "cron"),
        ({"cron": "0 * * * *", "interval": "1h"}, "cron"),
        ({"interval": "1h", "name": "Bad Name"}, "name"),
        ({"interval": "1h", "max_concurrency": 0}, "max_concurrency"),
        ({"interval": "1h", "concurrency_policy": "Sometimes"}, "concurrency_policy"),
        ({"interval": "1h", "pipeline_id": "nope"}, "pipeline_id"),
        ({"interval": "1h", "parameters": {"times": 2}}, "parameters.times"),
    ],
)
def test_bad_recurring_runs_store_nothing(api: Api, extra: dict, field: str) -> None:
    pipeline = api.upload(EXAMPLES / "parameters.yaml", "params")
    body = {"name": "ok-name", "pipeline_id": pipeline["id"], **extra}
    response = api.client.post("/api/v1/recurring-runs", json=body)
    assert response.status_code in (404, 422), response.text
    assert response.json()["field"] == field, response.json()
    assert _count(api) == 0
    preview = {k: v for k, v in extra.items() if k in ("cron", "interval", "timezone")}
    if preview and field in ("cron", "interval", "timezone"):
        bad = api.client.get("/api/v1/recurring-runs/preview", params=preview)
        assert bad.status_code == 422 and bad.json()["field"] == field


def test_namespaces_and_roles(make_api: Callable[..., Api]) -> None:
    api = make_api(auth=True)
    store = api.app.state.services.store
    editor = {"Authorization": "Bearer " + store.create_token("team-a", Role.EDITOR)}
    viewer = {"Authorization": "Bearer " + store.create_token("team-a", Role.VIEWER)}
    other = {"Authorization": "Bearer " + store.create_token("team-b", Role.EDITOR)}
    yaml_text = (EXAMPLES / "hello-world.yaml").read_text()
    body = {"name": "hourly", "pipeline_yaml": yaml_text, "interval": "1h"}
    assert api.client.post("/api/v1/recurring-runs", json=body).status_code == 401
    assert api.client.post("/api/v1/recurring-runs", json=body, headers=viewer).status_code == 403
    created = api.client.post("/api/v1/recurring-runs", json=body, headers=editor)
    assert created.status_code == 201 and created.json()["namespace"] == "team-a"
    rid = created.json()["id"]
    assert _count(api, viewer) == 1 and _count(api, other) == 0
    assert api.client.get(f"/api/v1/recurring-runs/{rid}", headers=viewer).status_code == 200
    for method, path in [
        ("GET", f"/api/v1/recurring-runs/{rid}"),
        ("GET", f"/api/v1/recurring-runs/{rid}/next"),
        ("POST", f"/api/v1/recurring-runs/{rid}/disable"),
        ("POST", f"/api/v1/recurring-runs/{rid}/enable"),
        ("DELETE", f"/api/v1/recurring-runs/{rid}"),
    ]:
        assert api.client.request(method, path, headers=other).status_code == 404, path
        if method != "GET":
            assert api.client.request(method, path, headers=viewer).status_code == 403, path
    assert api.client.get(f"/api/v1/recurring-runs/{rid}", headers=editor).json()["enabled"]


def test_a_scheduler_tick_starts_a_run_the_api_lists(api: Api) -> None:
    """The scheduler's own loop creates the run in the recurring run's namespace."""
    import time

    from scheduler.clock import FakeClock
    from scheduler.service import Scheduler

    pipeline = api.upload(EXAMPLES / "hello-world.yaml", "hello")
    rec = api.client.post(
        "/api/v1/recurring-runs",
        json={"name": "tick", "pipeline_id": pipeline["id"], "interval": "60s"},
    ).json()
    svc = api.app.state.services
    clock = FakeClock(time.time())
    service = Scheduler(svc.recurring(), svc.metadata, clock=clock)
    service.reload()
    # Its first due time exactly (now + 61 s spans two minute marks when now is at :59).
    due = svc.recurring().get(rec["id"]).next_fire_time
    assert service.tick(due) == 1
    runs = api.client.get("/api/v1/runs").json()["runs"]
    assert len(runs) == 1 and runs[0]["name"].startswith("tick-")
    fires = api.client.get(f"/api/v1/recurring-runs/{rec['id']}").json()["runs"]
    assert fires[0]["runId"] == runs[0]["id"]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_names_are_unique_per_namespace_never_across(
    make_api: Callable[..., Api], database: str
) -> None:
    """The issue's reproduction: a recurring run named like one that exists only in another
    namespace was a 409, revealing it and letting names be squatted. Pipelines and experiments
    follow the same rule."""
    from server_support import postgres_url

    urls = postgres_url() if database == "postgresql" else iter([None])
    for url in urls:
        api = make_api(db_url=url, auth=True)
        store = api.app.state.services.store
        team_a = {"Authorization": "Bearer " + store.create_token("team-a", Role.EDITOR)}
        team_b = {"Authorization": "Bearer " + store.create_token("team-b", Role.EDITOR)}
        yaml_text = (EXAMPLES / "hello-world.yaml").read_text()
        post = api.client.post
        recurring = {"name": "nightly", "pipeline_yaml": yaml_text, "interval": "1d"}
        pipeline = {"name": "hello", "pipeline_yaml": yaml_text}
        experiment = {"name": "tuning"}
        for path, body in [
            ("/api/v1/recurring-runs", recurring),
            ("/api/v1/pipelines", pipeline),
            ("/api/v1/experiments", experiment),
        ]:
            a = post(path, json=body, headers=team_a)
            b = post(path, json=body, headers=team_b)
            assert a.status_code == b.status_code == 201, (path, a.text, b.text)
            assert a.json()["namespace"] == "team-a" and b.json()["namespace"] == "team-b"
            again = post(path, json=body, headers=team_a)
            assert again.status_code == 409 and again.json()["field"] == "name", again.text
            assert "team-a" in again.json()["detail"] and "team-b" not in again.json()["detail"]
        listed = api.client.get("/api/v1/recurring-runs", headers=team_b).json()["recurring_runs"]
        assert [(r["name"], r["namespace"]) for r in listed] == [("nightly", "team-b")]
