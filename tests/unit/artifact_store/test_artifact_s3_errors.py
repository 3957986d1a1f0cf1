"""S3 store errors: minio and urllib3 failures become ArtifactNotFound / ArtifactStoreError.

Each message names the store (bucket and endpoint), the key and a fix. Transport failures
use real sockets on 127.0.0.1 (a closed port, a plain-HTTP server that is not S3); server
answers that need a real S3 server to provoke (AccessDenied...) are raised by a stubbed
client method, since that is exactly the boundary being tested.
"""

from __future__ import annotations

import io
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import urllib3
from minio.error import S3Error, ServerError

from artifact_store import ArtifactNotFound, ArtifactStoreError
from artifact_store.s3 import S3ArtifactStore


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_store(port: int, **options: object) -> S3ArtifactStore:
    defaults = {"retries": 0, "connect_timeout": 2.0, "read_timeout": 5.0, "region": "us-east-1"}
    return S3ArtifactStore(
        "my-bucket",
        endpoint=f"127.0.0.1:{port}",
        access_key="kp",
        secret_key="secret",
        **{**defaults, **options},  # type: ignore[arg-type]
    )


def operations(store: S3ArtifactStore, tmp_path: Path) -> dict[str, Callable[[], object]]:
    src = tmp_path / "src.bin"
    src.write_bytes(b"payload")
    return {
        "put_file": lambda: store.put_file("runs/r1/out.bin", src),
        "put_stream": lambda: store.put_stream("runs/r1/out.bin", io.BytesIO(b"payload")),
        "get_file": lambda: store.get_file("runs/r1/out.bin", tmp_path / "dest.bin"),
        "stat": lambda: store.stat("runs/r1/out.bin"),
        "exists": lambda: store.exists("runs/r1/out.bin"),
        "delete": lambda: store.delete("runs/r1/out.bin"),
        "list": lambda: list(store.list("runs/")),
        "delete_prefix": lambda: store.delete_prefix("runs/"),
    }


OPERATIONS = [
    "put_file",
    "put_stream",
    "get_file",
    "stat",
    "exists",
    "delete",
    "list",
    "delete_prefix",
]


@pytest.mark.parametrize("operation", OPERATIONS)
def test_an_unreachable_server_is_named_with_the_fix(operation: str, tmp_path: Path) -> None:
    port = closed_port()
    store = make_store(port)
    with pytest.raises(ArtifactStoreError) as raised:
        operations(store, tmp_path)[operation]()
    message = str(raised.value)
    assert not isinstance(raised.value, ArtifactNotFound)
    assert f"S3 artifact store s3://my-bucket at http://127.0.0.1:{port}" in message
    assert "nothing answered" in message and "Connection refused" in message
    assert "Fix: start the S3 server (MinIO), or correct KUBEPIPE_S3_ENDPOINT" in message
    if operation in ("list", "delete_prefix"):
        assert "'runs/'" in message
    elif not operation.startswith("put"):
        assert "'runs/r1/out.bin'" in message
    assert isinstance(raised.value.__cause__, urllib3.exceptions.HTTPError)
    assert not (tmp_path / "dest.bin").exists()


class NotS3(BaseHTTPRequestHandler):
    """A web server that is not an S3 API (a reverse proxy's login page, MinIO's console)."""

    def _answer(self) -> None:
        body = b"<html>please log in</html>"
        self.send_response(403)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _answer

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def not_s3() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), NotS3)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("operation", ["get_file", "list", "put_stream"])
def test_a_server_that_is_not_s3_is_recognised(not_s3: int, operation: str, tmp_path: Path) -> None:
    with pytest.raises(ArtifactStoreError) as raised:
        operations(make_store(not_s3), tmp_path)[operation]()
    message = str(raised.value)
    assert f"127.0.0.1:{not_s3}" in message
    assert ("did not answer like an S3 API" in message) or ("refused the credentials" in message)
    assert "Fix:" in message


def test_tls_against_a_plain_http_server_says_to_turn_secure_off(
    not_s3: int, tmp_path: Path
) -> None:
    store = make_store(not_s3, secure=True)
    with pytest.raises(ArtifactStoreError) as raised:
        store.get_file("k", tmp_path / "k")
    message = str(raised.value)
    assert f"https://127.0.0.1:{not_s3}" in message and "TLS handshake" in message
    assert "Fix: set KUBEPIPE_S3_SECURE=false" in message


# -- server answers, raised by a stubbed client --------------------------------------


def s3_error(code: str, message: str = "", status: int = 403) -> S3Error:
    return S3Error(
        urllib3.HTTPResponse(status=status),
        code,
        message,
        "/my-bucket/k",
        "REQ123",
        "host",
        bucket_name="my-bucket",
        object_name="k",
    )


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            s3_error("AccessDenied", "Access Denied."),
            "check KUBEPIPE_S3_ACCESS_KEY and KUBEPIPE_S3_SECRET_KEY",
        ),
        (s3_error("SignatureDoesNotMatch"), "may read, write and list bucket 'my-bucket'"),
        (
            s3_error("AuthorizationHeaderMalformed", "expecting 'eu-west-1'"),
            "set KUBEPIPE_S3_REGION",
        ),
        (s3_error("SlowDown", "Please reduce your request rate.", 503), "request id REQ123"),
        (ServerError("server failed with HTTP status code 502", 502), "HTTP status 502"),
    ],
)
def test_server_answers_become_store_errors_with_a_fix(
    error: Exception, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store(closed_port())

    def fail(*_args: object, **_kwargs: object) -> None:
        raise error

    monkeypatch.setattr(store._client, "stat_object", fail)
    with pytest.raises(ArtifactStoreError) as raised:
        store.stat("runs/k")
    message = str(raised.value)
    assert "S3 artifact store s3://my-bucket" in message and "'runs/k'" in message
    assert expected in message and "Fix:" in message
    assert raised.value.__cause__ is error


@pytest.mark.parametrize("code", ["NoSuchKey", "NoSuchBucket"])
def test_missing_objects_and_buckets_read_as_not_found(
    code: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    store = make_store(closed_port())

    def fail(*_args: object, **_kwargs: object) -> None:
        raise s3_error(code, status=404)

    monkeypatch.setattr(store._client, "stat_object", fail)
    monkeypatch.setattr(store._client, "get_object", fail)
    with pytest.raises(ArtifactNotFound, match="'runs/k'"):
        store.stat("runs/k")
    with pytest.raises(ArtifactNotFound, match="s3://my-bucket/runs/k"):
        store.get_file("runs/k", tmp_path / "k")
    assert not store.exists("runs/k")


def test_a_bucket_taken_by_another_account_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    store = make_store(closed_port())
    monkeypatch.setattr(store._client, "bucket_exists", lambda _bucket: False)

    def taken(*_args: object, **_kwargs: object) -> None:
        raise s3_error("BucketAlreadyExists", status=409)

    monkeypatch.setattr(store._client, "make_bucket", taken)
    with pytest.raises(ArtifactStoreError, match="belongs to another account.*Fix: choose another"):
        store.put_stream("k", io.BytesIO(b"x"))


def test_store_errors_pickle_for_worker_processes(tmp_path: Path) -> None:
    import pickle

    with pytest.raises(ArtifactStoreError) as raised:
        make_store(closed_port()).stat("k")
    copy = pickle.loads(pickle.dumps(raised.value))
    assert str(copy) == str(raised.value)
