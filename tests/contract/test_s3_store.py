"""Run the artifact store contract against S3ArtifactStore on a real S3 server, plus S3 faults.

moto's server mode stands in for MinIO: ``artifact_store.testing.start_moto_server`` starts
moto's S3 server in a child process on 127.0.0.1, and the store talks to it through the
``minio`` client exactly as it would to MinIO (the child process keeps the server's memory
out of the contract's ``tracemalloc`` checks).

What moto lacks and how the tests cope:
- Listing user metadata (MinIO's ``metadata=true`` extension of ListObjectsV2) is ignored,
  so ``list`` falls back to one HEAD per object; ``test_list_falls_back_to_stat...`` checks
  that the fallback is exact, and MinIO takes the cheaper path.
- ``ThreadedMotoServer.stop()`` keeps its listening socket bound and lets accepted
  connections finish, so it cannot stand for a crashed server. The fault tests put
  ``artifact_store.testing.FlakyProxy`` between the store and moto and take *that* down
  mid-transfer: the listener closes and every open connection is reset, which is what a
  client sees when MinIO dies. moto keeps its state behind the proxy, so "when the server
  is back" the test can check that no partial object became visible.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from artifact_store_suite import MIB, ArtifactStoreContract, FailingStream, sha
from minio import Minio

from artifact_store import (
    ArtifactIntegrityError,
    ArtifactNotFound,
    ArtifactStoreError,
    InvalidArtifactKey,
    open_store,
)
from artifact_store import s3 as s3_module
from artifact_store.s3 import S3ArtifactStore
from artifact_store.testing import FlakyProxy, start_moto_server

ACCESS_KEY, SECRET_KEY = "kubepipe-test", "kubepipe-test-secret"


@pytest.fixture(scope="session")
def moto_port() -> Iterator[int]:
    """moto's S3 server (standing in for MinIO) on a free port of 127.0.0.1, for the session."""
    with start_moto_server() as server:
        yield server.port


def new_bucket() -> str:
    return f"kp-{uuid.uuid4().hex[:20]}"


def make_store(port: int, bucket: str, **options: object) -> S3ArtifactStore:
    options.setdefault("region", "us-east-1")
    return S3ArtifactStore(
        bucket,
        endpoint=f"127.0.0.1:{port}",
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        **options,  # type: ignore[arg-type]
    )


def raw_client(port: int) -> Minio:
    """A plain minio client, to look at (and tamper with) the bucket behind the store's back."""
    return Minio(f"127.0.0.1:{port}", ACCESS_KEY, SECRET_KEY, secure=False, region="us-east-1")


def object_names(port: int, bucket: str) -> list[str]:
    return [o.object_name for o in raw_client(port).list_objects(bucket, recursive=True)]


class TestS3ArtifactStore(ArtifactStoreContract):
    __test__ = True

    @pytest.fixture
    def store(self, moto_port: int) -> S3ArtifactStore:
        return make_store(moto_port, new_bucket())


class TestS3ArtifactStoreUnderAPrefix(ArtifactStoreContract):
    """The same contract when the store is ``s3://bucket/team/a`` inside a shared bucket."""

    __test__ = True

    @pytest.fixture
    def store(self, moto_port: int) -> S3ArtifactStore:
        bucket = new_bucket()
        neighbour = make_store(moto_port, bucket)
        for key in ["team/a2/x", "team/b/y", "team/a-side"]:  # Must never show through.
            neighbour.put_stream(key, io.BytesIO(b"neighbour"))
        return make_store(moto_port, bucket, prefix="team/a")


@pytest.fixture
def bucket() -> str:
    return new_bucket()


@pytest.fixture
def store(moto_port: int, bucket: str) -> S3ArtifactStore:
    return make_store(moto_port, bucket)


# -- layout, bucket and metadata --------------------------------------------------


def test_reads_do_not_create_the_bucket_and_the_first_write_does(
    store: S3ArtifactStore, moto_port: int, bucket: str, tmp_path: Path
) -> None:
    raw = raw_client(moto_port)
    assert not store.exists("k")
    assert list(store.list()) == []
    store.delete("k")
    assert store.delete_prefix("runs/") == 0
    with pytest.raises(ArtifactNotFound):
        store.get_file("k", tmp_path / "k")
    assert not raw.bucket_exists(bucket)

    store.put_stream("runs/r1/out", io.BytesIO(b"x"))
    assert raw.bucket_exists(bucket)
    # A second store (another worker) finds the bucket there and shares it.
    other = make_store(moto_port, bucket)
    other.ensure_bucket()
    assert [i.key for i in other.list()] == ["runs/r1/out"]


def test_objects_are_named_by_key_and_carry_their_sha256(moto_port: int, bucket: str) -> None:
    store = make_store(moto_port, bucket, prefix="team")
    info = store.put_stream("runs/r1/train/model.bin", io.BytesIO(b"m" * 100))
    assert info.uri == f"s3://{bucket}/team/runs/r1/train/model.bin"
    assert object_names(moto_port, bucket) == ["team/runs/r1/train/model.bin"]
    head = raw_client(moto_port).stat_object(bucket, "team/runs/r1/train/model.bin")
    assert head.metadata is not None and head.metadata["x-amz-meta-sha256"] == sha(b"m" * 100)
    assert store.key_from_uri(info.uri) == "runs/r1/train/model.bin"
    with pytest.raises(InvalidArtifactKey, match="outside this store"):
        store.key_from_uri(f"s3://{bucket}/elsewhere/k")
    with pytest.raises(InvalidArtifactKey, match="outside this store"):
        store.key_from_uri("s3://other-bucket/team/k")
    with pytest.raises(InvalidArtifactKey, match="file://"):
        store.key_from_uri("file:///tmp/k")


def test_get_file_verifies_the_recorded_sha256(
    store: S3ArtifactStore, moto_port: int, bucket: str, tmp_path: Path
) -> None:
    good = store.put_stream("model", io.BytesIO(b"good weights"))
    # Bit rot or a stray writer: new bytes under the key, the old digest still attached.
    raw_client(moto_port).put_object(
        bucket, "model", io.BytesIO(b"evil weights"), 12, metadata={"sha256": good.sha256}
    )
    dest = tmp_path / "model"
    dest.write_bytes(b"previous")
    with pytest.raises(ArtifactIntegrityError, match="'model'") as raised:
        store.get_file("model", dest)
    assert (raised.value.expected, raised.value.actual) == (good.sha256, sha(b"evil weights"))
    assert dest.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # No temp file left.
    assert store.stat("model").sha256 == good.sha256  # What the metadata says, unread.


def test_objects_written_by_other_tools_are_hashed_on_demand(
    store: S3ArtifactStore, moto_port: int, bucket: str, tmp_path: Path
) -> None:
    store.ensure_bucket()
    raw_client(moto_port).put_object(bucket, "uploaded/by/mc", io.BytesIO(b"no digest"), 9)
    raw_client(moto_port).put_object(bucket, "bad//name", io.BytesIO(b"unaddressable"), 13)
    expected = sha(b"no digest")
    assert store.stat("uploaded/by/mc").sha256 == expected
    assert [(i.key, i.sha256) for i in store.list()] == [("uploaded/by/mc", expected)]
    assert store.get_file("uploaded/by/mc", tmp_path / "f").sha256 == expected


def test_list_falls_back_to_stat_when_the_listing_has_no_metadata(
    store: S3ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    infos = [store.put_stream(f"k{n}", io.BytesIO(bytes([n]) * n)) for n in range(3)]
    heads: list[str] = []
    real_stat = store._client.stat_object

    def counting_stat(bucket: str, name: str, *args: object, **kwargs: object) -> object:
        heads.append(name)
        return real_stat(bucket, name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store._client, "stat_object", counting_stat)
    assert list(store.list()) == infos
    assert heads == ["k0", "k1", "k2"]  # moto ignores metadata=true; MinIO would need none.


def test_multipart_upload_of_a_file_round_trips(store: S3ArtifactStore, tmp_path: Path) -> None:
    src = tmp_path / "data.bin"
    data = os.urandom(MIB) * 12 + b"tail"  # Three parts of 5 MiB, the last one short.
    src.write_bytes(data)
    info = store.put_file("runs/r1/data.bin", src)
    assert (info.size, info.sha256) == (len(data), sha(data))
    assert store.get_file("runs/r1/data.bin", tmp_path / "back.bin") == info
    assert (tmp_path / "back.bin").read_bytes() == data


def test_a_source_file_that_changes_during_upload_is_refused(
    store: S3ArtifactStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "out.bin"
    src.write_bytes(b"a" * (6 * MIB))
    store.put_stream("k", io.BytesIO(b"old"))
    real = s3_module.copy_hashing
    calls = []

    def then_modify(read, write):  # type: ignore[no-untyped-def]
        written = real(read, write)
        calls.append(written)
        with open(src, "r+b") as f:  # A writer still busy with the file after the first pass.
            f.seek(6 * MIB - 1)
            f.write(b"b")
        return written

    monkeypatch.setattr(s3_module, "copy_hashing", then_modify)
    with pytest.raises(ArtifactStoreError, match=r"changed while it was being uploaded.*'k'"):
        store.put_file("k", src)
    monkeypatch.undo()
    assert calls
    with store.open("k") as stream:
        assert stream.read() == b"old"


def test_open_streams_lines_for_log_readers(store: S3ArtifactStore) -> None:
    lines = [f"step log line {n}\n".encode() for n in range(20_000)]
    store.put_stream("runs/r1/train/main.log", io.BytesIO(b"".join(lines)))
    with store.open("runs/r1/train/main.log") as stream:
        assert list(stream) == lines


def test_put_stream_spools_without_leaving_files(moto_port: int, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    store = make_store(moto_port, new_bucket(), spool_dir=spool)
    store.put_stream("ok", io.BytesIO(b"x" * (6 * MIB)))
    with pytest.raises(RuntimeError, match="producer died"):
        store.put_stream("broken", io.BufferedReader(FailingStream(b"y" * (6 * MIB))))
    assert list(spool.iterdir()) == []
    assert [i.key for i in store.list()] == ["ok"]


def test_spool_failures_name_the_directory(moto_port: int, tmp_path: Path) -> None:
    store = make_store(moto_port, new_bucket(), spool_dir=tmp_path / "missing")
    with pytest.raises(ArtifactStoreError, match=r"spool.*'k'.*missing.*Fix: point TMPDIR"):
        store.put_stream("k", io.BytesIO(b"x"))


# -- open_store -----------------------------------------------------------------


def test_open_store_configures_s3_from_the_environment(
    moto_port: int, bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KUBEPIPE_S3_ENDPOINT", f"127.0.0.1:{moto_port}")
    monkeypatch.setenv("KUBEPIPE_S3_ACCESS_KEY", ACCESS_KEY)
    monkeypatch.setenv("KUBEPIPE_S3_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("KUBEPIPE_S3_SECURE", "false")
    store = open_store(f"s3://{bucket}/pipelines/")
    assert isinstance(store, S3ArtifactStore)
    assert (store.bucket, store.prefix, store.endpoint) == (
        bucket,
        "pipelines",
        f"http://127.0.0.1:{moto_port}",
    )
    info = store.put_stream("runs/r1/x", io.BytesIO(b"through open_store"))
    assert info.uri == f"s3://{bucket}/pipelines/runs/r1/x"
    assert object_names(moto_port, bucket) == ["pipelines/runs/r1/x"]
    assert store.get_file("runs/r1/x", tmp_path / "x") == info


# -- faults: the server goes away ----------------------------------------------------


@pytest.fixture
def proxy(moto_port: int) -> Iterator[FlakyProxy]:
    flaky = FlakyProxy(moto_port)
    yield flaky
    flaky.stop()


@pytest.fixture
def flaky_store(proxy: FlakyProxy, bucket: str) -> S3ArtifactStore:
    return make_store(proxy.port, bucket, retries=1, read_timeout=10)


class GeneratorStream(io.RawIOBase):
    """A readable stream over a generator of byte chunks (a step writing its output)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if not self._pending:
            self._pending = next(self._chunks, b"")
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


def model_chunks(mib: int = 40) -> Iterator[bytes]:
    for n in range(mib):
        yield bytes([n % 256]) * MIB


@pytest.mark.parametrize("how", ["put_stream", "put_file"])
def test_server_dying_mid_upload_fails_naming_the_store_and_stores_nothing(
    how: str,
    flaky_store: S3ArtifactStore,
    proxy: FlakyProxy,
    moto_port: int,
    bucket: str,
    tmp_path: Path,
) -> None:
    key = "runs/r1/train/model.bin"
    flaky_store.put_stream("runs/r1/prep/out", io.BytesIO(b"kept"))
    src = tmp_path / "model.bin"
    if how == "put_file":
        with open(src, "wb") as f:
            f.writelines(model_chunks())

    def upload() -> object:
        if how == "put_file":
            return flaky_store.put_file(key, src)
        return flaky_store.put_stream(key, io.BufferedReader(GeneratorStream(model_chunks())))

    proxy.die_after(up=12 * MIB)  # During the third of eight 5 MiB parts.
    started = time.monotonic()
    with pytest.raises(ArtifactStoreError) as raised:
        upload()
    message = str(raised.value)
    assert proxy.deaths == 1, "the server must have died mid-upload"
    assert not isinstance(raised.value, ArtifactNotFound)
    for part in [f"127.0.0.1:{proxy.port}", f"s3://{bucket}", repr(key), "Fix:"]:
        assert part in message, f"{part!r} missing from: {message}"
    assert time.monotonic() - started < 15

    proxy.start()  # The server is back (moto kept its state behind the proxy).
    assert not flaky_store.exists(key)
    assert [i.key for i in flaky_store.list()] == ["runs/r1/prep/out"]
    assert object_names(moto_port, bucket) == ["runs/r1/prep/out"]

    info = upload()  # And the step can simply be retried.
    digest = hashlib.sha256()
    for chunk in model_chunks():
        digest.update(chunk)
    expected = digest.hexdigest()
    assert flaky_store.stat(key) == info and info.sha256 == expected  # type: ignore[attr-defined]


def test_server_dying_mid_download_leaves_dest_untouched(
    flaky_store: S3ArtifactStore, proxy: FlakyProxy, bucket: str, tmp_path: Path
) -> None:
    flaky_store.put_stream("big", io.BytesIO(b"z" * (20 * MIB)))
    (tmp_path / "inputs").mkdir()
    dest = tmp_path / "inputs" / "big"
    dest.write_bytes(b"previous")
    proxy.die_after(down=5 * MIB)
    with pytest.raises(ArtifactStoreError) as raised:
        flaky_store.get_file("big", dest)
    message = str(raised.value)
    for part in [f"127.0.0.1:{proxy.port}", f"s3://{bucket}", "'big'", "Fix:"]:
        assert part in message, f"{part!r} missing from: {message}"
    assert dest.read_bytes() == b"previous"
    assert [p.name for p in dest.parent.iterdir()] == ["big"]


def test_a_broken_download_resumes_with_a_ranged_get(
    flaky_store: S3ArtifactStore, proxy: FlakyProxy, tmp_path: Path
) -> None:
    data = os.urandom(MIB) * 20
    info = flaky_store.put_stream("big", io.BytesIO(data))
    before = proxy.connections
    proxy.reset_after(down=7 * MIB)
    got = flaky_store.get_file("big", tmp_path / "big", expected_sha256=info.sha256)
    assert got == info
    assert (tmp_path / "big").read_bytes() == data
    assert proxy.connections - before >= 2, "the download should have reconnected"


def test_a_replaced_object_is_not_spliced_when_resuming(
    flaky_store: S3ArtifactStore, proxy: FlakyProxy, moto_port: int, bucket: str
) -> None:
    flaky_store.put_stream("hot", io.BytesIO(b"1" * (12 * MIB)))
    with flaky_store.open("hot") as stream:
        assert stream.read(MIB) == b"1" * MIB
        make_store(moto_port, bucket).put_stream("hot", io.BytesIO(b"2" * (12 * MIB)))
        proxy.blip()  # Break the connection the stream is reading from.
        with pytest.raises(ArtifactStoreError, match="replaced while it was being read"):
            while stream.read(MIB):
                pass
