"""The PrometheusMetric collector: the exposition parser, the scrape, and a real trial process
that serves `/metrics` over http.server (and prints nothing) tuned through the engine."""

from __future__ import annotations

import math
import socket
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from katib_support import experiment, experiment_node, run, trials, workflow_file

from components.katib.errors import MetricsUnavailable, UnsupportedFeature
from components.katib.prometheus import Sample, metrics_url, parse_exposition, scrape, select
from components.katib.spec import parse_experiment
from components.katib.support import check_runnable
from engine.executor import Engine
from engine.phases import NodePhase, RunPhase


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_parses_samples_labels_timestamps_and_skips_comments() -> None:
    text = (
        "# HELP loss Training loss.\n"
        "# TYPE loss gauge\n"
        "loss 0.25\n"
        "\n"
        'accuracy{split="val",note="a \\"q\\" \\\\ b\\nc"} 9.5e-1 1700000000123\n'
        "requests_total{} +Inf\n"
        "  spaced:name   -3   \n"
    )
    assert parse_exposition(text) == [
        Sample("loss", 0.25),
        Sample("accuracy", 0.95, {"split": "val", "note": 'a "q" \\ b\nc'}, 1700000000123),
        Sample("requests_total", math.inf),
        Sample("spaced:name", -3.0),
    ]


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("loss", "expected a blank before the value"),
        ("loss abc", "sample value 'abc' is not a number"),
        ("loss 1 12.5", "timestamp '12.5' is not an integer"),
        ("loss 1 2 3", "unexpected text after the timestamp"),
        ('loss{a="1" 2', "expected ',' or '}'"),
        ('loss{a="1} 2', "unterminated label value"),
        ('loss{a="\\t"} 2', "unknown escape"),
        ('loss{a="1",a="2"} 2', "label 'a' repeated"),
        ("9loss 1", "expected a name"),
    ],
)
def test_malformed_lines_are_errors_naming_the_line(line: str, why: str) -> None:
    with pytest.raises(ValueError, match=why) as info:
        parse_exposition("# ok\n" + line)
    assert "line 2" in str(info.value)


_NAME = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,12}", fullmatch=True)
_LABEL = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,8}", fullmatch=True)
_VALUE = st.floats(allow_nan=False)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _format(sample: Sample) -> str:
    labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sample.labels.items())
    value = {math.inf: "+Inf", -math.inf: "-Inf"}.get(sample.value, repr(sample.value))
    text = sample.name + (f"{{{labels}}}" if sample.labels else "") + " " + value
    return text + (f" {sample.timestamp_ms}" if sample.timestamp_ms is not None else "")


@given(
    st.lists(
        st.builds(
            Sample,
            name=_NAME,
            value=_VALUE,
            labels=st.dictionaries(_LABEL, st.text(max_size=10), max_size=3),
            timestamp_ms=st.none() | st.integers(-(2**62), 2**62),
        ),
        max_size=6,
    )
)
def test_generated_exposition_lines_round_trip(samples: list[Sample]) -> None:
    text = "# HELP x generated\n" + "\n".join(_format(s) for s in samples) + "\n"
    assert parse_exposition(text) == samples


def test_select_prefers_the_unlabelled_series_and_skips_nan() -> None:
    samples = parse_exposition('loss{a="1"} 3\nloss 2\nacc{a="1"} 0.5\nacc 0.9\nf NaN\n')
    picked = select(samples, ["loss", "acc", "f", "missing"])
    assert {k: v.value for k, v in picked.items()} == {"loss": 2.0, "acc": 0.9}
    first = select(parse_exposition('acc{a="1"} 0.5\nacc{a="2"} 0.7\n'), ["acc"])
    assert first["acc"].value == 0.5


def test_unreachable_endpoint_is_metrics_unavailable_naming_the_url() -> None:
    url = f"http://127.0.0.1:{_free_port()}/metrics"
    with pytest.raises(MetricsUnavailable, match=f"scraping {url} failed"):
        scrape(url, timeout=0.5)


def _manifest(code: str, port: int, **kw: object) -> dict[str, object]:
    collector = {
        "metricsCollectorSpec": {
            "collector": {"kind": "PrometheusMetric"},
            "source": {"httpGet": {"port": port, "path": "/metrics"}},
        }
    }
    return experiment(
        "random",
        {"random_state": "3"},
        code=code,
        args=["${trialParameters.x}", "${trialParameters.y}", str(port)],
        parallel=1,
        extra_spec=collector,
        **kw,  # type: ignore[arg-type]
    )


def test_httpget_defaults_and_refusals() -> None:
    spec = parse_experiment(_manifest("pass", 9100)).spec
    assert metrics_url(spec, {}) == "http://127.0.0.1:9100/metrics"
    manifest = _manifest("pass", 9100)
    manifest["spec"]["metricsCollectorSpec"]["source"] = {}  # type: ignore[index]
    assert metrics_url(parse_experiment(manifest).spec, {}) == "http://127.0.0.1:8080/metrics"
    manifest["spec"]["metricsCollectorSpec"]["source"] = {"httpGet": {"port": "web"}}  # type: ignore[index]
    spec = parse_experiment(manifest).spec
    assert metrics_url(spec, {"ports": [{"name": "web", "containerPort": 9200}]}).endswith(
        ":9200/metrics"
    )
    with pytest.raises(Exception, match="httpGet.port: port 'web' names no port"):
        metrics_url(spec, {})
    parallel = _manifest("pass", 9100)
    parallel["spec"]["parallelTrialCount"] = 2  # type: ignore[index]
    with pytest.raises(
        UnsupportedFeature, match="spec.parallelTrialCount: .*set parallelTrialCount: 1"
    ):
        check_runnable(parse_experiment(parallel))


# A trial that prints nothing: it serves Branin as gauge `loss` (with HELP/TYPE and a labelled
# series that must be ignored) and `steps`, and exits once a scrape has seen the final value.
SERVER = (
    "import http.server, math, sys, threading, time\n"
    "x, y, port = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])\n"
    "b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)\n"
    "loss = (y - b*x*x + c*x - 6) ** 2 + 10 * (1 - t) * math.cos(x) + 10\n"
    "seen = threading.Event()\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        body = ('# HELP loss Branin\\n# TYPE loss gauge\\n'\n"
    "                'loss{kind=\"other\"} -1e9\\n' + f'loss {loss!r}\\nsteps 1\\n').encode()\n"
    "        self.send_response(200); self.end_headers(); self.wfile.write(body); seen.set()\n"
    "    def log_message(self, *a): pass\n"
    "s = http.server.ThreadingHTTPServer(('127.0.0.1', port), H)\n"
    "threading.Thread(target=s.serve_forever, daemon=True).start()\n"
    "seen.wait(20); time.sleep(0.1)\n"
)


def test_a_trial_serving_metrics_is_scraped(engine: Engine, tmp_path: Path) -> None:
    port = _free_port()
    manifest = _manifest(SERVER, port, max_trials=2, name="prom")
    state = run(engine, workflow_file(tmp_path, manifest))
    assert state.run.phase is RunPhase.SUCCEEDED, state.run.message
    found = trials(state)
    assert len(found) == 2 and all(t.phase is NodePhase.SUCCEEDED for t in found)
    from katib_support import branin

    for t in found:
        x, y = (float(t.inputs["parameters"][k]) for k in ("x", "y"))
        assert float(t.outputs["parameters"]["objective"]) == pytest.approx(branin(x, y))
        assert t.extra["trial"]["prometheus"]["url"] == f"http://127.0.0.1:{port}/metrics"
    status = experiment_node(state).extra["resource"]["status"]
    assert status["trialsSucceeded"] == 2


def test_a_trial_without_an_endpoint_is_metrics_unavailable_naming_the_url(
    engine: Engine, tmp_path: Path
) -> None:
    port = _free_port()
    manifest = _manifest("import time; time.sleep(0.5)", port, max_trials=1, name="noprom")
    state = run(engine, workflow_file(tmp_path, manifest))
    [t] = trials(state)
    assert t.extra["trial"]["condition"] == "MetricsUnavailable"
    url = f"http://127.0.0.1:{port}/metrics"
    assert f"objective metric 'loss' was not found at {url}" in t.message
    assert f"scraping {url} failed" in t.message
