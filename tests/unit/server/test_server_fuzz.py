"""Fuzzing every endpoint that creates something: whatever the body (random JSON, random or
mangled YAML, deep nesting, huge numbers, unicode, wrong types, missing fields, odd multipart
file names), the answer is below 500, an error is the API's JSON shape, and a refused request
leaves no trace (pipelines, versions, runs, experiments and recurring runs are counted before
and after).

API tokens have no create endpoint (`kubepipe token create` makes them), so they are not here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from server_support import EXAMPLES, Api

HELLO = (EXAMPLES / "hello-world.yaml").read_text()
PARAMS = (EXAMPLES / "parameters.yaml").read_text()

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# -- values -------------------------------------------------------------------------------------
huge_ints = st.integers(min_value=-(10**40), max_value=10**40) | st.sampled_from(
    [2**63, -(2**63) - 1, 10**400]
)
# Text for a URL or a multipart header (which carry UTF-8 only) ...
url_text = st.text(max_size=40) | st.sampled_from(
    ["", " ", "\x00", "é", "😀", "../../etc/passwd", "a" * 300, "{{workflow.name}}", "null"]
)
# ... and for JSON, which can also escape a lone surrogate ("\ud800").
odd_text = url_text | st.text(st.characters(blacklist_categories=()), max_size=6)
scalars = st.none() | st.booleans() | huge_ints | st.floats(allow_nan=False, allow_infinity=False)
scalars = scalars | odd_text
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(odd_text, inner, max_size=4),
    max_leaves=15,
)


def _nested(depth: int, kind: str) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value] if kind == "list" else {"k": value}
    return value


deep_json = st.builds(_nested, st.integers(50, 900), st.sampled_from(["list", "dict"]))

units = st.sampled_from(["", "s", "m", "h", "d", "ms", "ns", "1s", "h30m"])
durations = st.builds(
    lambda sign, digits, unit: sign + digits + unit,
    st.sampled_from(["", "-", "+"]),
    st.text("0123456789", min_size=1, max_size=30)
    | st.sampled_from(["1e999", "1.5", "nan", "inf"]),
    units,
)
intervals = durations | url_text | st.sampled_from(["-inf", "9" * 5000 + "d"])
crons = url_text | st.from_regex(r"([0-9*/,-]{1,6} ){4,5}[0-9*/,-]{1,6}", fullmatch=True)
zones = url_text | st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Etc/GMT+14"])
timestamps = url_text | st.from_regex(
    r"[0-9]{4}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9](Z|[+-][01][0-9]:[0-5][0-9])?",
    fullmatch=True,
)


def _mangle(text: str, start: int, length: int, insert: str) -> str:
    start %= len(text) + 1
    return text[:start] + insert + text[start + length :]


deep_yaml = st.one_of(
    st.builds(lambda n: "[" * n + "]" * n, st.integers(90, 6000)),
    st.builds(lambda n: "{a: " * n + "1" + "}" * n, st.integers(90, 3000)),
    st.builds(
        lambda n: "".join(f"{'  ' * i}a:\n" for i in range(n)) + "  " * n + "b",
        st.integers(90, 400),
    ),
    st.builds(lambda n: "spec:\n  x: " + "[" * n + "]" * n + "\n" + HELLO, st.integers(90, 3000)),
)
yaml_texts = st.one_of(
    deep_yaml,
    odd_text,
    st.builds(lambda v: yaml.safe_dump(v), json_values),
    st.builds(
        _mangle,
        st.sampled_from([HELLO, PARAMS]),
        st.integers(0, 2000),
        st.integers(0, 50),
        odd_text,
    ),
    st.builds(lambda n: HELLO + f"  activeDeadlineSeconds: {n}\n  parallelism: {n}\n", huge_ints),
    st.builds(
        lambda d: HELLO.replace(
            "  entrypoint: hello", f"  entrypoint: hello\n  activeDeadlineSeconds: {d}"
        ),
        durations,
    ),
    st.builds(
        lambda c: HELLO.replace("generateName: hello-world-", f'generateName: "h-\\u{c:04X}-"'),
        st.integers(0xD800, 0xDFFF) | st.integers(0x20, 0xFFFF),
    ),
    st.just(HELLO),
)
parameters = st.dictionaries(odd_text, odd_text | huge_ints | json_values, max_size=3)


def _body(
    valid: dict[str, Any], fields: dict[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[Any]:
    """Mostly a valid body with one or two fields replaced by an odd value (or left out), so the
    request gets past the first check and reaches the deeper ones; sometimes any subset of the
    fields with extra keys, or something that is not an object at all."""

    @st.composite
    def mutated(draw: st.DrawFn) -> dict[str, Any]:
        body = dict(valid)
        for key in draw(st.lists(st.sampled_from(sorted(fields)), min_size=1, max_size=2)):
            if draw(st.integers(0, 5)) == 0:
                body.pop(key, None)
            else:
                body[key] = draw(fields[key] | json_values)
        return body

    known = st.fixed_dictionaries({}, optional={k: v | json_values for k, v in fields.items()})
    extra = st.dictionaries(odd_text, json_values, max_size=2)
    anything = st.builds(lambda a, b: {**b, **a}, known, extra) | json_values | deep_json
    return st.one_of(mutated(), mutated(), mutated(), anything)


# -- the app and its state ----------------------------------------------------------------------
@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzz_api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    """One app per database for all the examples (PostgreSQL refuses what SQLite stores, e.g. a
    NUL in text, so both are fuzzed)."""
    from fastapi.testclient import TestClient
    from server_support import _settings, postgres_url

    from server import create_app

    urls = postgres_url() if request.param == "postgresql" else iter([None])
    for url in urls:
        home = tmp_path_factory.mktemp("fuzz") / "home"
        settings_ = _settings(home, url, yaml_max_nodes=20_000)
        app = create_app(settings_)
        with TestClient(app, raise_server_exceptions=False) as client:
            api = Api(client, app, settings_)
            api.upload(EXAMPLES / "parameters.yaml", "seed")
            yield api


def _state(api: Api) -> tuple[int, ...]:
    svc = api.app.state.services
    pipelines = svc.store.pipelines(None)
    return (
        len(pipelines),
        sum(p.versions for p in pipelines),
        api.client.get("/api/v1/runs").json()["total_size"],
        len(svc.store.experiments(None)),
        len(svc.recurring().list_all()),
    )


def _seed(api: Api) -> tuple[str, str]:
    pipeline = next(p for p in api.app.state.services.store.pipelines(None) if p.name == "seed")
    return pipeline.id, pipeline.default_version_id or ""


def _check(api: Api, send: Callable[[], httpx.Response]) -> None:
    before = _state(api)
    response = send()
    assert response.status_code < 500, response.text[:2000]
    if response.status_code >= 400:
        body = response.json()
        assert {"error", "detail", "field"} <= set(body), body
        assert isinstance(body["detail"], str) and body["detail"]
        assert _state(api) == before, response.text[:2000]


def _post_json(api: Api, path: str, body: Any) -> Callable[[], httpx.Response]:
    return lambda: api.client.post(
        path, content=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )


# -- one test per create endpoint ----------------------------------------------------------------
filenames = url_text | st.sampled_from(
    ["p.yaml", "", ".yaml", "a/b/../c.yml", "x" * 300 + ".yaml", "名前.yaml"]
)
names = st.none() | url_text


@FUZZ
@example(content="[" * 5000 + "]" * 5000, filename="deep.yaml", name="deep")
@given(
    content=yaml_texts | deep_yaml | st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    filename=filenames,
    name=names,
)
def test_fuzz_pipeline_upload(fuzz_api: Api, content: str, filename: str, name: str | None) -> None:
    params = {} if name is None else {"name": name}
    data = content.encode("utf-8", "surrogatepass")
    _check(
        fuzz_api,
        lambda: fuzz_api.client.post(
            "/api/v1/pipelines/upload", params=params, files={"uploadfile": (filename, data)}
        ),
    )


@FUZZ
@given(
    content=yaml_texts,
    raw=st.binary(max_size=100),
    use_raw=st.booleans(),
    filename=filenames,
    name=names,
)
def test_fuzz_pipeline_version_upload(
    fuzz_api: Api, content: str, raw: bytes, use_raw: bool, filename: str, name: str | None
) -> None:
    pipeline_id, _ = _seed(fuzz_api)
    params = {} if name is None else {"name": name}
    data = raw if use_raw else content.encode("utf-8", "surrogatepass")
    _check(
        fuzz_api,
        lambda: fuzz_api.client.post(
            f"/api/v1/pipelines/{pipeline_id}/versions",
            params=params,
            files={"uploadfile": (filename, data)},
        ),
    )


@FUZZ
@given(
    body=_body(
        {"name": "fuzzed", "pipeline_yaml": HELLO},
        {"name": odd_text, "description": odd_text, "pipeline_yaml": yaml_texts},
    )
)
def test_fuzz_pipeline_create(fuzz_api: Api, body: Any) -> None:
    _check(fuzz_api, _post_json(fuzz_api, "/api/v1/pipelines", body))


@FUZZ
@given(
    body=_body(
        {"pipeline_id": "seed", "parameters": {"times": "2"}},
        {
            "pipeline_yaml": yaml_texts,
            "pipeline_id": st.sampled_from(["seed", "nope"]) | odd_text,
            "pipeline_version_id": odd_text,
            "parameters": parameters,
            "experiment_id": odd_text,
            "name": odd_text,
            "namespace": odd_text,
        },
    )
)
def test_fuzz_run_create(fuzz_api: Api, body: Any) -> None:
    if isinstance(body, dict) and body.get("pipeline_id") == "seed":
        body["pipeline_id"] = _seed(fuzz_api)[0]
    _check(fuzz_api, _post_json(fuzz_api, "/api/v1/runs", body))


@FUZZ
@given(
    body=_body(
        {"name": "fuzzed", "description": "d"},
        {"name": odd_text, "description": odd_text, "namespace": odd_text},
    )
)
def test_fuzz_experiment_create(fuzz_api: Api, body: Any) -> None:
    _check(fuzz_api, _post_json(fuzz_api, "/api/v1/experiments", body))


recurring_fields = {
    "name": odd_text | st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
    "pipeline_id": st.sampled_from(["seed"]) | odd_text,
    "pipeline_yaml": yaml_texts,
    "parameters": parameters,
    "cron": crons,
    "interval": intervals,
    "timezone": zones,
    "start_time": timestamps,
    "end_time": timestamps,
    "concurrency_policy": st.sampled_from(["Allow", "Forbid", "Replace"]) | odd_text,
    "max_concurrency": huge_ints,
    "catchup": st.booleans() | odd_text,
    "enabled": st.booleans(),
    "namespace": odd_text,
}


@FUZZ
@example(body={"name": "often", "pipeline_id": "seed", "interval": "99999999999999999999d"})
@example(body={"name": "deep", "pipeline_yaml": "[" * 5000 + "]" * 5000, "interval": "1h"})
@given(body=_body({"name": "fuzzed", "pipeline_id": "seed", "interval": "1h"}, recurring_fields))
def test_fuzz_recurring_create(fuzz_api: Api, body: Any) -> None:
    if isinstance(body, dict) and body.get("pipeline_id") == "seed":
        body["pipeline_id"] = _seed(fuzz_api)[0]
    _check(fuzz_api, _post_json(fuzz_api, "/api/v1/recurring-runs", body))


@FUZZ
@example(query={"interval": "99999999999999999999d"})
@given(
    query=st.one_of(
        st.fixed_dictionaries({"interval": intervals}, optional={"timezone": zones}),
        st.fixed_dictionaries({"cron": crons}, optional={"timezone": zones}),
        st.fixed_dictionaries(
            {},
            optional={
                "cron": crons,
                "interval": intervals,
                "timezone": zones,
                "count": huge_ints | url_text,
            },
        ),
    )
)
def test_fuzz_recurring_preview(fuzz_api: Api, query: dict[str, Any]) -> None:
    params = {k: str(v) for k, v in query.items()}
    _check(fuzz_api, lambda: fuzz_api.client.get("/api/v1/recurring-runs/preview", params=params))


def test_the_fuzzed_app_still_works(fuzz_api: Api) -> None:
    """After all of the above, an ordinary create still succeeds (nothing was left locked or
    half-written)."""
    body = {"name": "after-fuzz", "pipeline_yaml": HELLO}
    created = fuzz_api.client.post("/api/v1/pipelines", json=body)
    assert created.status_code in (201, 409), created.text
