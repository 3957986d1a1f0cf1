"""The behaviour every ArtifactStore must have, written once and run per backend.

A backend's test module subclasses ``ArtifactStoreContract`` and provides a ``store``
fixture returning an empty store (Dagster's ``TestRunStorage`` pattern). The class
sets ``__test__ = False`` so pytest only collects it through those subclasses.
"""

from __future__ import annotations

import hashlib
import io
import threading
import tracemalloc
from pathlib import Path

import pytest

from artifact_store import (
    ArtifactInfo,
    ArtifactIntegrityError,
    ArtifactNotFound,
    ArtifactStore,
    ArtifactStoreError,
    InvalidArtifactKey,
)

MIB = 1024 * 1024
INVALID_KEYS = [
    "",
    "/abs/key",
    "a/../b",
    "..",
    "a/./b",
    ".",
    "a//b",
    "a/",
    "nul\x00byte",
    "back\\slash",
]


class PatternStream(io.RawIOBase):
    """``size`` bytes of a repeating pattern, generated on demand, never all in memory."""

    def __init__(self, size: int, pattern: bytes) -> None:
        self._remaining = size
        self._pattern = memoryview(pattern)
        self._offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        count = min(len(buffer), self._remaining, len(self._pattern) - self._offset)
        buffer[:count] = self._pattern[self._offset : self._offset + count]
        self._offset = (self._offset + count) % len(self._pattern)
        self._remaining -= count
        return count


class FailingStream(io.RawIOBase):
    """Yields ``good`` bytes, then fails as a dying producer (or a crashing writer) would."""

    def __init__(self, good: bytes) -> None:
        self._data = io.BytesIO(good)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        count = self._data.readinto(buffer)
        if count == 0:
            raise RuntimeError("producer died mid-stream")
        return count


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ArtifactStoreContract:
    """Tests that take a ``store`` fixture; subclasses bind it to a backend."""

    __test__ = False

    # -- protocol and round trips ---------------------------------------------

    def test_satisfies_the_protocol(self, store: ArtifactStore) -> None:
        assert isinstance(store, ArtifactStore)

    def test_stream_round_trip_reports_sha256_and_size(self, store: ArtifactStore) -> None:
        data = b"weights\x00\xff" * 1000
        info = store.put_stream("runs/r1/train/model.bin", io.BytesIO(data))
        assert info == ArtifactInfo(
            uri=store.uri_for("runs/r1/train/model.bin"),
            key="runs/r1/train/model.bin",
            sha256=sha(data),
            size=len(data),
        )
        with store.open("runs/r1/train/model.bin") as stream:
            assert stream.read() == data
        assert store.stat("runs/r1/train/model.bin") == info

    def test_file_round_trip(self, store: ArtifactStore, tmp_path: Path) -> None:
        src = tmp_path / "metrics.json"
        src.write_bytes(b'{"accuracy": 0.93}')
        info = store.put_file("runs/r1/eval/metrics.json", src)
        dest = tmp_path / "fetched" / "nested" / "metrics.json"
        got = store.get_file("runs/r1/eval/metrics.json", dest, expected_sha256=info.sha256)
        assert dest.read_bytes() == src.read_bytes()
        assert got == info

    def test_empty_artifact(self, store: ArtifactStore, tmp_path: Path) -> None:
        info = store.put_stream("empty", io.BytesIO(b""))
        assert (info.size, info.sha256) == (0, sha(b""))
        store.get_file("empty", tmp_path / "empty")
        assert (tmp_path / "empty").read_bytes() == b""

    def test_key_round_trips_through_its_uri(self, store: ArtifactStore) -> None:
        for key in ["a", "runs/r 1/step-1/out.tgz", "ünïcode/ключ", "odd/%41?#&=+"]:
            assert store.key_from_uri(store.uri_for(key)) == key

    # -- missing and invalid --------------------------------------------------

    def test_missing_key_raises_not_found(self, store: ArtifactStore, tmp_path: Path) -> None:
        assert not store.exists("runs/missing")
        with pytest.raises(ArtifactNotFound, match="runs/missing"):
            store.stat("runs/missing")
        with pytest.raises(ArtifactNotFound, match="runs/missing"):
            store.get_file("runs/missing", tmp_path / "out")
        with pytest.raises(ArtifactNotFound, match="runs/missing"):
            with store.open("runs/missing"):
                pass
        assert not (tmp_path / "out").exists()

    def test_a_key_prefix_is_not_an_artifact(self, store: ArtifactStore) -> None:
        store.put_stream("runs/r1/out", io.BytesIO(b"x"))
        assert not store.exists("runs/r1")
        with pytest.raises(ArtifactNotFound):
            store.stat("runs/r1")

    @pytest.mark.parametrize("key", INVALID_KEYS, ids=repr)
    def test_invalid_keys_are_rejected_before_any_io(
        self, store: ArtifactStore, key: str, tmp_path: Path
    ) -> None:
        calls = [
            lambda: store.put_stream(key, io.BytesIO(b"x")),
            lambda: store.get_file(key, tmp_path / "out"),
            lambda: store.exists(key),
            lambda: store.stat(key),
            lambda: store.delete(key),
            lambda: store.uri_for(key),
        ]
        for call in calls:
            with pytest.raises(InvalidArtifactKey, match="Fix:"):
                call()
        with pytest.raises(InvalidArtifactKey):
            with store.open(key):
                pass
        assert list(store.list()) == []

    def test_put_file_of_a_missing_source_names_the_source(
        self, store: ArtifactStore, tmp_path: Path
    ) -> None:
        with pytest.raises(ArtifactStoreError, match=r"nope\.bin") as raised:
            store.put_file("k", tmp_path / "nope.bin")
        assert not isinstance(raised.value, ArtifactNotFound)
        with pytest.raises(ArtifactStoreError, match="pack_path"):
            store.put_file("k", tmp_path)
        assert not store.exists("k")

    # -- integrity ------------------------------------------------------------

    def test_expected_sha256_mismatch_raises_and_leaves_dest_untouched(
        self, store: ArtifactStore, tmp_path: Path
    ) -> None:
        store.put_stream("model", io.BytesIO(b"real bytes"))
        (tmp_path / "downloads").mkdir()
        dest = tmp_path / "downloads" / "model"
        dest.write_bytes(b"previous")
        with pytest.raises(ArtifactIntegrityError, match="model") as raised:
            store.get_file("model", dest, expected_sha256=sha(b"other bytes"))
        assert (raised.value.expected, raised.value.actual) == (
            sha(b"other bytes"),
            sha(b"real bytes"),
        )
        assert dest.read_bytes() == b"previous"
        assert [p.name for p in dest.parent.iterdir()] == ["model"]  # No temp file left behind.

    def test_expected_sha256_is_case_insensitive(
        self, store: ArtifactStore, tmp_path: Path
    ) -> None:
        info = store.put_stream("k", io.BytesIO(b"abc"))
        store.get_file("k", tmp_path / "k", expected_sha256=info.sha256.upper())

    def test_malformed_expected_sha256_is_refused(
        self, store: ArtifactStore, tmp_path: Path
    ) -> None:
        store.put_stream("k", io.BytesIO(b"abc"))
        with pytest.raises(ArtifactStoreError, match="64 hex"):
            store.get_file("k", tmp_path / "k", expected_sha256="md5:123")

    # -- atomicity ------------------------------------------------------------

    def test_overwrite_replaces_the_whole_artifact(self, store: ArtifactStore) -> None:
        store.put_stream("k", io.BytesIO(b"a long first version" * 100))
        info = store.put_stream("k", io.BytesIO(b"short"))
        with store.open("k") as stream:
            assert stream.read() == b"short"
        assert store.stat("k") == info
        assert [i.key for i in store.list()] == ["k"]

    def test_failed_overwrite_keeps_the_old_artifact(self, store: ArtifactStore) -> None:
        old = store.put_stream("k", io.BytesIO(b"old"))
        with pytest.raises(RuntimeError, match="producer died"):
            store.put_stream("k", io.BufferedReader(FailingStream(b"new partial data" * 10000)))
        assert store.stat("k") == old
        with store.open("k") as stream:
            assert stream.read() == b"old"
        assert [i.key for i in store.list()] == ["k"]

    def test_failed_first_write_leaves_nothing_visible(self, store: ArtifactStore) -> None:
        with pytest.raises(RuntimeError):
            store.put_stream("runs/r1/k", io.BufferedReader(FailingStream(b"x" * 3 * 1024 * 1024)))
        assert not store.exists("runs/r1/k")
        assert list(store.list()) == []

    def test_readers_never_see_a_mix_of_two_writes(self, store: ArtifactStore) -> None:
        versions = [bytes([n]) * (2 * MIB) for n in (1, 2)]
        digests = {sha(v) for v in versions}
        store.put_stream("hot", io.BytesIO(versions[0]))
        seen: list[str] = []
        stop = threading.Event()

        def read_repeatedly() -> None:
            while not stop.is_set():
                with store.open("hot") as stream:
                    seen.append(sha(stream.read()))

        reader = threading.Thread(target=read_repeatedly)
        reader.start()
        try:
            for round_ in range(10):
                store.put_stream("hot", io.BytesIO(versions[round_ % 2]))
        finally:
            stop.set()
            reader.join()
        assert seen and set(seen) <= digests

    # -- listing and deleting -------------------------------------------------

    def test_list_by_prefix_in_key_order(self, store: ArtifactStore) -> None:
        keys = [
            "runs/r1/a",
            "runs/r1/b/c",
            "runs/r10/a",
            "runs/r2/a",
            "runs/r1-x",
            "other/a",
            "run",
        ]
        for key in keys:
            store.put_stream(key, io.BytesIO(key.encode()))
        assert [i.key for i in store.list()] == sorted(keys)
        assert [i.key for i in store.list("runs/r1/")] == ["runs/r1/a", "runs/r1/b/c"]
        assert [i.key for i in store.list("runs/r1")] == [
            "runs/r1-x",
            "runs/r1/a",
            "runs/r1/b/c",
            "runs/r10/a",
        ]
        assert [i.key for i in store.list("runs/r1/b")] == ["runs/r1/b/c"]
        assert list(store.list("nothing/")) == []
        by_key = {i.key: i for i in store.list()}
        assert by_key["runs/r2/a"] == store.stat("runs/r2/a")
        assert by_key["runs/r2/a"].sha256 == sha(b"runs/r2/a")

    def test_list_rejects_unsafe_prefixes_at_the_call(self, store: ArtifactStore) -> None:
        for prefix in ["/runs", "runs/../", "a//b", "x\x00"]:
            with pytest.raises(InvalidArtifactKey, match="prefix"):
                store.list(prefix)

    def test_delete_is_idempotent(self, store: ArtifactStore) -> None:
        store.put_stream("runs/r1/k", io.BytesIO(b"x"))
        store.put_stream("runs/r1/keep", io.BytesIO(b"y"))
        store.delete("runs/r1/k")
        store.delete("runs/r1/k")
        store.delete("never/existed")
        assert not store.exists("runs/r1/k")
        assert [i.key for i in store.list()] == ["runs/r1/keep"]

    def test_delete_prefix_counts_and_spares_neighbours(self, store: ArtifactStore) -> None:
        for key in ["runs/r1/a", "runs/r1/b/c", "runs/r10/a", "runs/r2/a"]:
            store.put_stream(key, io.BytesIO(b"x"))
        assert store.delete_prefix("runs/r1/") == 2
        assert [i.key for i in store.list()] == ["runs/r10/a", "runs/r2/a"]
        assert store.delete_prefix("runs/r1/") == 0
        assert store.delete_prefix("runs/") == 2
        assert list(store.list()) == []

    def test_delete_prefix_refuses_to_wipe_the_store(self, store: ArtifactStore) -> None:
        store.put_stream("k", io.BytesIO(b"x"))
        with pytest.raises(InvalidArtifactKey, match="every artifact"):
            store.delete_prefix("")
        assert store.exists("k")

    # -- bounded memory -------------------------------------------------------

    def test_50_mb_stream_is_put_and_fetched_with_bounded_memory(
        self, store: ArtifactStore, tmp_path: Path
    ) -> None:
        size, pattern = 50 * 1000 * 1000, bytes(range(256)) * 4099  # Not chunk-aligned.
        expected, source = hashlib.sha256(), PatternStream(size, pattern)
        while chunk := source.read(MIB):
            expected.update(chunk)
        tracemalloc.start()
        try:
            info = store.put_stream("big", io.BufferedReader(PatternStream(size, pattern), MIB))
            _current, put_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            store.get_file("big", tmp_path / "big", expected_sha256=info.sha256)
            _current, get_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert (info.size, info.sha256) == (size, expected.hexdigest())
        assert (tmp_path / "big").stat().st_size == size
        assert put_peak < 8 * MIB, f"put_stream peaked at {put_peak / MIB:.1f} MiB"
        assert get_peak < 8 * MIB, f"get_file peaked at {get_peak / MIB:.1f} MiB"
