"""`katib.tune`'s results step on a cluster, where Katib (not kubepipe) runs the experiment and
no trials annotation exists: it lists the experiment's Trials from the Kubernetes API with the
pod's service account. Kubernetes is not available here, so the API is a local HTTPS fixture
that serves the list call the step makes (label selector, bearer token, paging with
`continue`), with a self-signed CA standing in for the cluster's."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from components.katib.tuning import katib_results

TOKEN = "sa-token-123"
NAMESPACE = "team-a"
EXPERIMENT = "tune-run-7-tune-quadratic"


def _trial(name: str, created: str, x: str, conditions: list[str], loss: str | None) -> dict:  # type: ignore[type-arg]
    status: dict[str, Any] = {
        "conditions": [{"type": c, "status": "True"} for c in conditions]
        + [{"type": "Running", "status": "False"}]
    }
    if loss is not None:
        status["observation"] = {
            "metrics": [{"name": "loss", "min": loss, "max": "9", "latest": loss}]
        }
    return {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Trial",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "creationTimestamp": created,
            "labels": {"katib.kubeflow.org/experiment": EXPERIMENT},
        },
        "spec": {"parameterAssignments": [{"name": "x", "value": x}]},
        "status": status,
    }


PAGES = [
    [
        _trial("t-b", "2026-11-29T10:00:02Z", "0.5", ["Created", "Succeeded"], "0.04"),
        _trial(
            "t-c", "2026-11-29T10:00:03Z", "0.9", ["Created", "MetricsUnavailable"], "unavailable"
        ),
    ],
    [_trial("t-a", "2026-11-29T10:00:01Z", "0.25", ["Created", "Succeeded"], "0.0025")],
]


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the fixture's server cert and the pod's CA)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Api(BaseHTTPRequestHandler):
    """GET /apis/kubeflow.org/v1beta1/namespaces/{ns}/trials, as the API server answers it."""

    forbid = False
    requests: list[str] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, code: int, body: dict) -> None:  # type: ignore[type-arg]
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        status = {"kind": "Status", "apiVersion": "v1", "status": "Failure"}
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._send(401, {**status, "reason": "Unauthorized", "code": 401})
        elif type(self).forbid:
            message = (
                f'trials.kubeflow.org is forbidden: User "system:serviceaccount:{NAMESPACE}:'
                f'pipeline-runner" cannot list resource "trials"'
            )
            self._send(403, {**status, "reason": "Forbidden", "message": message, "code": 403})
        elif url.path != f"/apis/kubeflow.org/v1beta1/namespaces/{NAMESPACE}/trials":
            self._send(404, {**status, "reason": "NotFound", "code": 404})
        elif query.get("labelSelector") != f"katib.kubeflow.org/experiment={EXPERIMENT}":
            self._send(200, {"kind": "TrialList", "metadata": {}, "items": []})
        else:
            page = int(query.get("continue", "0"))
            meta = {"continue": str(page + 1)} if page + 1 < len(PAGES) else {}
            self._send(200, {"kind": "TrialList", "metadata": meta, "items": PAGES[page]})


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The API fixture on 127.0.0.1 and a service-account directory (token, ca.crt)."""
    cert, key = _certificate(tmp_path)
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text(TOKEN + "\n")
    (account / "ca.crt").write_bytes(cert.read_bytes())
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(server.server_address[1]))
    _Api.forbid, _Api.requests = False, []
    try:
        yield account
    finally:
        server.shutdown()
        server.server_close()


def _results(account: Path, tmp_path: Path) -> tuple[Any, list[dict]]:  # type: ignore[type-arg]
    table = SimpleNamespace(path=str(tmp_path / "trials.json"), metadata={})
    out = katib_results.python_func(
        assignments=json.dumps([{"name": "x", "value": "0.25"}]),
        objective="0.0025",
        trials_json="",  # Katib sets no kubepipe annotation
        types={"x": "float"},
        metric="loss",
        strategy="min",
        experiment=EXPERIMENT,
        namespace=NAMESPACE,
        trials=table,
        serviceaccount=str(account),
    )
    return out, json.loads(Path(table.path).read_text())


def test_trials_are_listed_from_the_api_in_creation_order(cluster: Path, tmp_path: Path) -> None:
    out, rows = _results(cluster, tmp_path)
    assert out.best_parameters == {"x": 0.25} and out.best_objective == 0.0025
    assert rows == [
        {"trial": "t-a", "state": "Succeeded", "objective": 0.0025, "x": 0.25},
        {"trial": "t-b", "state": "Succeeded", "objective": 0.04, "x": 0.5},
        {"trial": "t-c", "state": "MetricsUnavailable", "objective": None, "x": 0.9},
    ]
    assert len(_Api.requests) == 2 and "continue=1" in _Api.requests[1]


def test_without_rbac_the_table_holds_the_best_trial_and_says_why(
    cluster: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _Api.forbid = True
    out, rows = _results(cluster, tmp_path)
    assert out.best_objective == 0.0025
    assert rows == [{"trial": "best", "state": "Succeeded", "objective": 0.0025, "x": 0.25}]
    err = capsys.readouterr().err
    assert f"could not list the trials of experiment {NAMESPACE}/{EXPERIMENT}" in err
    assert "403" in err and "`list` on trials.kubeflow.org" in err


def test_outside_a_cluster_nothing_is_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    out, rows = _results(tmp_path / "no-account", tmp_path)
    assert [r["trial"] for r in rows] == ["best"] and out.best_parameters == {"x": 0.25}
    assert capsys.readouterr().err == ""  # no API call was tried, so nothing to warn about
