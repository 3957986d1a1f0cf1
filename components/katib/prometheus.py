"""The `PrometheusMetric` collector: scrape a trial's `/metrics` endpoint, parse the text format.

Katib's collector reads `source.httpGet` (port, default 8080; path, default `/metrics`). Local
steps share the host network, so the endpoint is always `http://127.0.0.1:<port><path>`. Only
the sample lines of the text exposition format are needed: `name{labels} value [timestamp]`;
`# HELP` / `# TYPE` and other comments are skipped. The parser is small and strict about the
parts it reads (label escapes, `+Inf`/`NaN`, integer millisecond timestamps) so a value is never
read from the wrong token; a malformed line is an error naming the line, not a silent skip.
"""

from __future__ import annotations

import math
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.katib.errors import ExperimentSpecError, MetricsUnavailable
from components.katib.spec import ExperimentSpec

__all__ = [
    "DEFAULT_PATH",
    "DEFAULT_PORT",
    "SCRAPE_TIMEOUT",
    "Sample",
    "metrics_url",
    "parse_exposition",
    "scrape",
    "select",
]

DEFAULT_PORT = 8080
DEFAULT_PATH = "/metrics"
# The engine scrapes inside its tick: a hung endpoint must not stall the other steps for long.
SCRAPE_TIMEOUT = 1.0

_LOCAL_HOSTS = frozenset({"", "127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class Sample:
    """One sample line: metric name, labels, value and the optional timestamp (ms since epoch)."""

    name: str
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)
    timestamp_ms: int | None = None


class _Line:
    """A cursor over one exposition line (the grammar is small enough to scan by hand)."""

    def __init__(self, text: str, number: int) -> None:
        self.text, self.pos, self.number = text, 0, number

    def fail(self, what: str) -> ValueError:
        return ValueError(f"line {self.number}: {what} at column {self.pos + 1}: {self.text!r}")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_blanks(self) -> None:
        while self.peek() in (" ", "\t") and self.peek():
            self.pos += 1

    def name(self, first: str, rest: str) -> str:
        start = self.pos
        if not (
            self.peek()
            and (self.peek().isascii() and (self.peek().isalpha() or self.peek() in first))
        ):
            raise self.fail("expected a name")
        self.pos += 1
        while (
            self.peek() and self.peek().isascii() and (self.peek().isalnum() or self.peek() in rest)
        ):
            self.pos += 1
        return self.text[start : self.pos]

    def quoted(self) -> str:
        if self.peek() != '"':
            raise self.fail("expected a quoted label value")
        self.pos += 1
        out: list[str] = []
        while True:
            ch = self.peek()
            if not ch:
                raise self.fail("unterminated label value")
            self.pos += 1
            if ch == '"':
                return "".join(out)
            if ch == "\\":
                esc = self.peek()
                self.pos += 1
                if esc == "n":
                    out.append("\n")
                elif esc in ('"', "\\"):
                    out.append(esc)
                else:
                    raise self.fail(f"unknown escape \\{esc}")
            else:
                out.append(ch)

    def token(self) -> str:
        start = self.pos
        while self.peek() and self.peek() not in (" ", "\t"):
            self.pos += 1
        return self.text[start : self.pos]


def _labels(line: _Line) -> dict[str, str]:
    labels: dict[str, str] = {}
    line.pos += 1  # the "{"
    while True:
        line.skip_blanks()
        if line.peek() == "}":
            line.pos += 1
            return labels
        key = line.name("_", "_")
        line.skip_blanks()
        if line.peek() != "=":
            raise line.fail("expected '=' after a label name")
        line.pos += 1
        line.skip_blanks()
        if key in labels:
            raise line.fail(f"label {key!r} repeated")
        labels[key] = line.quoted()
        line.skip_blanks()
        if line.peek() == ",":
            line.pos += 1
        elif line.peek() != "}":
            raise line.fail("expected ',' or '}' after a label value")


def _value(token: str, line: _Line) -> float:
    special = {"+inf": math.inf, "inf": math.inf, "-inf": -math.inf, "nan": math.nan}
    if token.lower() in special:
        return special[token.lower()]
    try:
        return float(token)
    except ValueError:
        raise line.fail(f"sample value {token!r} is not a number") from None


def parse_exposition(text: str) -> list[Sample]:
    """Every sample of a Prometheus text exposition, in order (comments and blanks skipped).

    Raises ValueError naming the line for a malformed sample: a scraper that guessed would
    report a wrong objective, which is worse than a trial marked MetricsUnavailable.
    """
    samples: list[Sample] = []
    # Lines end at "\n" only: str.splitlines would also split inside a label value at
    # characters such as "\x1e" or "\u2028", which the format allows there unescaped.
    for number, raw in enumerate(text.split("\n"), start=1):
        stripped = raw.strip(" \t\r")
        if not stripped or stripped.startswith("#"):
            continue
        line = _Line(stripped, number)
        name = line.name("_:", "_:")
        labels = _labels(line) if line.peek() == "{" else {}
        if line.peek() not in (" ", "\t"):
            raise line.fail("expected a blank before the value")
        line.skip_blanks()
        value = _value(line.token(), line)
        line.skip_blanks()
        timestamp: int | None = None
        if line.peek():
            token = line.token()
            try:
                timestamp = int(token)
            except ValueError:
                raise line.fail(f"timestamp {token!r} is not an integer (ms)") from None
            line.skip_blanks()
            if line.peek():
                raise line.fail("unexpected text after the timestamp")
        samples.append(Sample(name, value, labels, timestamp))
    return samples


def select(samples: Sequence[Sample], metric_names: Sequence[str]) -> dict[str, Sample]:
    """The sample each wanted metric reads: its unlabelled series, else its first listed series.

    A non-finite value (NaN, ±Inf) is not an observation Katib could compare, so it is left out.
    """
    out: dict[str, Sample] = {}
    for name in metric_names:
        series = [s for s in samples if s.name == name and math.isfinite(s.value)]
        if series:
            out[name] = next((s for s in series if not s.labels), series[0])
    return out


def metrics_url(spec: ExperimentSpec, container: Mapping[str, Any]) -> str:
    """`http://127.0.0.1:<port><path>` for the collector's `source.httpGet`, with Katib's defaults.

    A named port is looked up in the primary container's `ports`, as a kubelet probe does.
    """
    source = spec.metrics_collector_spec.source
    http_get: Mapping[str, Any] = (source.http_get if source else None) or {}
    where = "spec.metricsCollectorSpec.source.httpGet"
    host = str(http_get.get("host") or "")
    if host not in _LOCAL_HOSTS:
        raise ExperimentSpecError(
            f"host {host!r}: local trials share this machine's network; drop host (127.0.0.1 is used)",
            f"{where}.host",
        )
    scheme = str(http_get.get("scheme") or "HTTP").upper()
    if scheme != "HTTP":
        raise ExperimentSpecError(
            f"scheme {scheme!r} is not supported locally; serve the metrics over plain HTTP",
            f"{where}.scheme",
        )
    port: Any = http_get.get("port", DEFAULT_PORT)
    if isinstance(port, str) and not port.isdigit():
        named = {p.get("name"): p.get("containerPort") for p in container.get("ports") or []}
        if port not in named:
            raise ExperimentSpecError(
                f"port {port!r} names no port of the primary container; give a number or add "
                f"it to the container's ports",
                f"{where}.port",
            )
        port = named[port]
    try:
        number = int(port)
    except (TypeError, ValueError):
        raise ExperimentSpecError(f"port {port!r} is not a number", f"{where}.port") from None
    if not 0 < number < 65536:
        raise ExperimentSpecError(f"port {number} is out of range 1-65535", f"{where}.port")
    path = str(http_get.get("path") or DEFAULT_PATH)
    if not path.startswith("/"):
        path = "/" + path
    return f"http://127.0.0.1:{number}{path}"


def scrape(url: str, timeout: float = SCRAPE_TIMEOUT) -> list[Sample]:
    """GET `url` and parse it; MetricsUnavailable names the URL and what went wrong."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http only)
            body = response.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as exc:
        raise MetricsUnavailable(f"scraping {url} failed: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise MetricsUnavailable(f"scraping {url} failed: {reason}") from None
    try:
        return parse_exposition(body)
    except ValueError as exc:
        raise MetricsUnavailable(f"scraping {url}: not Prometheus text format: {exc}") from None
