"""Runs whose artifacts and logs live in S3, through the real `kubepipe` CLI, and S3 dying mid-run.

moto's server mode stands in for MinIO: ``artifact_store.testing.start_moto_server`` starts
moto's S3 server in a child process on 127.0.0.1 and the engine reaches it through the
``minio`` client, configured only by ``KUBEPIPE_ARTIFACT_ROOT=s3://bucket/prefix`` and the
``KUBEPIPE_S3_*`` variables, as a user would configure MinIO. The fault tests put
``artifact_store.testing.FlakyProxy`` between the engine and moto and take the proxy down
while a step's output is being uploaded: to the engine that is MinIO dying (connections
reset, new ones refused), while moto keeps its state so the test can look at the bucket
once the "server" is back.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from e2e_support import EXAMPLES, by_name
from minio import Minio
from sqlalchemy.exc import OperationalError

from artifact_store.testing import FlakyProxy, MotoServer, start_moto_server
from engine.metadata.store import MetadataStore
from engine.phases import NodePhase
from engine.state import ArtifactRecord, LogRecord

ACCESS_KEY, SECRET_KEY = "kubepipe-e2e", "kubepipe-e2e-secret"
PREFIX = "team/pipelines"
MIB = 1024 * 1024
MODEL_MIB = 24
# The step's output, built the same way in the step and here, to know its sha256 in advance.
MODEL_EXPR = f"bytes(range(256)) * 4096 * {MODEL_MIB}"
MODEL_SHA256 = hashlib.sha256(bytes(range(256)) * 4096 * MODEL_MIB).hexdigest()

TRAIN_THEN_SCORE = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: s3-fault-
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: train
        template: train
    - - name: score
        template: score
        arguments:
          artifacts:
          - name: model
            from: "{{steps.train.outputs.artifacts.model}}"
  - name: train
    RETRY
    script:
      image: python:3.11
      command: [python]
      source: |
        print("training")
        with open("/tmp/model.bin", "wb") as f:
            f.write(MODEL_EXPR)
    outputs:
      artifacts:
      - name: model
        path: /tmp/model.bin
  - name: score
    inputs:
      artifacts:
      - name: model
        path: /inputs/model.bin
    script:
      image: python:3.11
      command: [python]
      source: |
        import hashlib
        print(hashlib.sha256(open("/inputs/model.bin", "rb").read()).hexdigest())
"""


def fault_workflow(tmp_path: Path, retry: str = "") -> Path:
    """Write the train -> score workflow, with ``retry`` as the train template's retryStrategy."""
    text = TRAIN_THEN_SCORE.replace("MODEL_EXPR", MODEL_EXPR)
    text = text.replace("    RETRY\n", f"    retryStrategy: {retry}\n" if retry else "")
    path = tmp_path / "train-then-score.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    """moto's S3 server (standing in for MinIO), shared by this module's tests."""
    with start_moto_server() as server:
        yield server


@dataclass(frozen=True)
class Bucket:
    """A fresh bucket on moto, and a plain client straight to moto to look at it behind the
    engine's back."""

    name: str
    raw: Minio

    @property
    def root(self) -> str:
        """The artifact root the CLI is given."""
        return f"s3://{self.name}/{PREFIX}"

    def key(self, uri: str) -> str:
        """The object name an `s3://` URI of this bucket points at."""
        return uri.removeprefix(f"s3://{self.name}/")

    def digests(self) -> dict[str, str | None]:
        """Every object in the bucket with the sha256 it carries as user metadata."""
        found: dict[str, str | None] = {}
        for obj in self.raw.list_objects(self.name, recursive=True):
            assert obj.object_name is not None
            head = self.raw.stat_object(self.name, obj.object_name)
            found[obj.object_name] = (head.metadata or {}).get("x-amz-meta-sha256")
        return found

    def sha256(self, name: str) -> str:
        """Hash the object's bytes as the server returns them."""
        response = self.raw.get_object(self.name, name)
        try:
            digest = hashlib.sha256()
            for chunk in response.stream(MIB):
                digest.update(chunk)
            return digest.hexdigest()
        finally:
            response.close()
            response.release_conn()

    def assert_holds(self, records: Sequence[ArtifactRecord | LogRecord], under: str) -> None:
        """Each record's object is in the bucket under `under`, and the sha256 the engine
        recorded is the one on the object and the one of its bytes."""
        objects = self.digests()
        for rec in records:
            assert rec.uri.startswith(under), rec.uri
            name = self.key(rec.uri)
            assert objects[name] == rec.sha256 == self.sha256(name), name

    def models(self) -> dict[str, str | None]:
        """The stored `model` outputs, with their sha256."""
        return {k: v for k, v in self.digests().items() if k.endswith("/model")}


@pytest.fixture
def bucket(moto: MotoServer) -> Bucket:
    """A bucket name no other test uses; the engine creates it on its first upload."""
    raw = Minio(moto.endpoint, ACCESS_KEY, SECRET_KEY, secure=False, region="us-east-1")
    return Bucket(f"kp-e2e-{uuid.uuid4().hex[:16]}", raw)


def _point_cli_at(monkeypatch: pytest.MonkeyPatch, endpoint: str, bucket: Bucket) -> Bucket:
    """Configure the CLI's artifact root as a user would for MinIO (after `home`, which clears
    the artifact root: the fixtures below ask for it first)."""
    monkeypatch.setenv("KUBEPIPE_ARTIFACT_ROOT", bucket.root)
    monkeypatch.setenv("KUBEPIPE_S3_ENDPOINT", endpoint)
    monkeypatch.setenv("KUBEPIPE_S3_ACCESS_KEY", ACCESS_KEY)
    monkeypatch.setenv("KUBEPIPE_S3_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("KUBEPIPE_S3_SECURE", "false")
    monkeypatch.setenv("KUBEPIPE_S3_REGION", "us-east-1")
    return bucket


@pytest.fixture
def s3(home: Path, moto: MotoServer, bucket: Bucket, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    """The CLI stores artifacts and logs in `bucket` on moto."""
    return _point_cli_at(monkeypatch, moto.endpoint, bucket)


@pytest.fixture
def proxy(moto: MotoServer) -> Iterator[FlakyProxy]:
    flaky = FlakyProxy(moto.port)
    yield flaky
    flaky.stop()


@pytest.fixture
def s3_via_proxy(
    home: Path, proxy: FlakyProxy, bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> Bucket:
    """The CLI stores artifacts and logs in `bucket` on moto, reached through `proxy`."""
    return _point_cli_at(monkeypatch, proxy.endpoint, bucket)


def metadata(home: Path) -> MetadataStore:
    return MetadataStore(f"sqlite:///{home / 'kubepipe.db'}")


# -- the same workflows on S3 and on the local store -------------------------------------


@pytest.mark.parametrize("where", ["s3", "local"])
def test_artifacts_pass_between_steps_on_the_store_the_setting_chooses(
    where: str,
    home: Path,
    cli: Callable[..., Result],
    run_json: Callable[..., tuple[int, dict[str, Any]]],
    bucket: Bucket,
    request: pytest.FixtureRequest,
) -> None:
    if where == "s3":
        request.getfixturevalue("s3")  # points the CLI at `bucket`
    code, run = run_json(EXAMPLES / "artifact-passing.yaml")
    nodes = by_name(run)
    assert code == 0, {n: (v["phase"], v["message"]) for n, v in nodes.items()}
    assert cli("logs", run["id"], "consume").stdout.splitlines() == [
        "hello from generate",
        "['part-0.csv', 'part-1.csv', 'part-2.csv']",
    ]

    recorded = metadata(home).artifacts(run["id"])
    assert sorted(r.name for r in recorded) == ["dataset", "message"]
    logs = metadata(home).logs(run["id"])
    assert logs, "the steps printed, so their stdout is stored"
    stored: list[ArtifactRecord | LogRecord] = [*recorded, *logs]
    local_files = [p for p in (home / "artifacts").rglob("*") if p.is_file()]
    if where == "local":
        assert all(r.uri.startswith((home / "artifacts").as_uri()) for r in stored)
        assert local_files
        assert not bucket.raw.bucket_exists(bucket.name)
        return

    assert local_files == [], "with an s3:// root nothing may land in the local artifact dir"
    bucket.assert_holds(stored, under=f"{bucket.root}/{run['id']}/")
    assert set(bucket.digests()) == {bucket.key(r.uri) for r in stored}


def test_a_dsl_pipeline_passes_its_artifacts_through_s3(
    home: Path,
    cli: Callable[..., Result],
    run_json: Callable[..., tuple[int, dict[str, Any]]],
    s3: Bucket,
) -> None:
    code, run = run_json(EXAMPLES / "dsl_train.py")
    nodes = by_name(run)
    assert code == 0, {n: (v["phase"], v["message"]) for n, v in nodes.items()}
    outputs = json.loads(cli("get", run["id"], "-o", "json").stdout)["outputs"]
    assert outputs["slope"] == pytest.approx(2.0) and outputs["rows"] == 20
    recorded = metadata(home).artifacts(run["id"])
    assert {"dataset", "model", "metrics"} <= {r.name for r in recorded}
    s3.assert_holds(recorded, under=f"{s3.root}/")
    assert not [p for p in (home / "artifacts").rglob("*") if p.is_file()]


# -- S3 dies while a step's output is being uploaded ------------------------------------


def revive_when_a_node_errors(proxy: FlakyProxy, home: Path) -> threading.Thread:
    """Bring the proxy back once the engine has marked a node Error, not before.

    Coming back sooner could let the S3 client's own retries finish the upload, and the
    test would no longer be about a node whose upload failed.
    """

    def watch() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proxy.deaths and _some_node_errored(home):
                proxy.start()
                return
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    return watcher


def _some_node_errored(home: Path) -> bool:
    store = metadata(home)
    try:
        return any(
            event.to_phase is NodePhase.ERROR
            for run in store.list_runs()
            for event in store.node_events(run.id)
        )
    except OperationalError:
        return False  # The database is busy or not created yet; look again.
    finally:
        store.close()


def assert_upload_error_names_store_and_key(
    node: dict[str, Any], run_id: str, root: str, proxy: FlakyProxy
) -> None:
    message = node["message"]
    key = f"{run_id}/{node['id']}/model"
    assert node["phase"] == "Error", message
    for part in [
        "failed to store output artifact 'model'",
        f"S3 artifact store {root}",
        proxy.endpoint,
        repr(key),
        f"{root}/{key}",
        "Fix:",
    ]:
        assert part in message, f"{part!r} missing from: {message}"


def assert_the_model_alone_is_stored(
    bucket: Bucket, model: ArtifactRecord, nodes: dict[str, dict[str, Any]]
) -> None:
    """The rerun's (or retry's) model is the bucket's only one, whole, and `score` read it."""
    assert bucket.models() == {bucket.key(model.uri): MODEL_SHA256}
    assert nodes["score"]["outputs"]["result"] == MODEL_SHA256


def test_s3_dying_mid_upload_errors_the_node_and_records_nothing_then_a_rerun_succeeds(
    home: Path,
    cli: Callable[..., Result],
    run_json: Callable[..., tuple[int, dict[str, Any]]],
    proxy: FlakyProxy,
    s3_via_proxy: Bucket,
    tmp_path: Path,
) -> None:
    workflow = fault_workflow(tmp_path)
    proxy.die_after(up=8 * MIB)  # A third of the way into the 24 MiB model's upload.
    code, run = run_json(workflow)
    assert proxy.deaths == 1, "the S3 server must have died during the run"
    assert code == 1 and run["phase"] in ("Failed", "Error")
    nodes = by_name(run)
    assert_upload_error_names_store_and_key(nodes["train"], run["id"], s3_via_proxy.root, proxy)
    assert "score" not in nodes, "a step whose input was never stored must not start"
    assert metadata(home).artifacts(run["id"]) == [], "a partial upload must not be recorded"

    proxy.start()  # The server is back; moto kept its state behind the proxy.
    assert not s3_via_proxy.models()
    # The step's log went up before the model and is read back from S3.
    assert cli("logs", run["id"], "train").stdout.strip() == "training"

    code, rerun = run_json(workflow)
    nodes = by_name(rerun)
    assert code == 0, {n: (v["phase"], v["message"]) for n, v in nodes.items()}
    (model,) = metadata(home).artifacts(rerun["id"])
    assert (model.name, model.sha256, model.size) == ("model", MODEL_SHA256, MODEL_MIB * MIB)
    assert_the_model_alone_is_stored(s3_via_proxy, model, nodes)


def test_s3_dying_mid_upload_is_retried_by_the_templates_retry_strategy(
    home: Path,
    run_json: Callable[..., tuple[int, dict[str, Any]]],
    proxy: FlakyProxy,
    s3_via_proxy: Bucket,
    tmp_path: Path,
) -> None:
    # OnError: a failed upload is the engine's fault (Argo's Error), not the step's (Failed).
    retry = '{limit: "2", retryPolicy: OnError, backoff: {duration: "1"}}'
    workflow = fault_workflow(tmp_path, retry)
    proxy.die_after(up=8 * MIB)
    watcher = revive_when_a_node_errors(proxy, home)
    code, run = run_json(workflow)
    watcher.join(timeout=1)
    nodes = by_name(run)
    assert proxy.deaths == 1, "the S3 server must have died during the run"
    assert code == 0, {n: (v["phase"], v["message"]) for n, v in nodes.items()}
    assert_upload_error_names_store_and_key(nodes["train(0)"], run["id"], s3_via_proxy.root, proxy)
    assert nodes["train(1)"]["phase"] == "Succeeded"

    (model,) = metadata(home).artifacts(run["id"])
    assert model.node_id == nodes["train(1)"]["id"], "only the attempt that stored it records it"
    assert (model.sha256, model.size) == (MODEL_SHA256, MODEL_MIB * MIB)
    assert_the_model_alone_is_stored(s3_via_proxy, model, nodes)
