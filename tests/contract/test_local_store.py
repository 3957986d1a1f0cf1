"""Run the artifact store contract against LocalArtifactStore, plus what only it promises."""

from __future__ import annotations

import errno
import io
import os
from pathlib import Path

import pytest
from artifact_store_suite import ArtifactStoreContract, sha

from artifact_store import (
    ArtifactIntegrityError,
    ArtifactNotFound,
    ArtifactStoreError,
    InvalidArtifactKey,
    LocalArtifactStore,
    _atomic,
    local,
    open_store,
)


class TestLocalArtifactStore(ArtifactStoreContract):
    __test__ = True

    @pytest.fixture
    def store(self, tmp_path: Path) -> LocalArtifactStore:
        return LocalArtifactStore(tmp_path / "store")


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "store")


def visible_files(root: Path) -> list[str]:
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file()
        and not any(part.startswith(".kubepipe") for part in p.relative_to(root).parts)
    )


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(_atomic.TEMP_PREFIX)]


# -- layout ---------------------------------------------------------------------


def test_artifacts_are_plain_files_under_root_and_sidecars_stay_hidden(
    store: LocalArtifactStore,
) -> None:
    store.put_stream("runs/r1/train/model.bin", io.BytesIO(b"m"))
    assert (store.root / "runs/r1/train/model.bin").read_bytes() == b"m"
    assert visible_files(store.root) == ["runs/r1/train/model.bin"]
    assert [i.key for i in store.list()] == ["runs/r1/train/model.bin"]
    assert (
        store.uri_for("runs/r1/train/model.bin")
        == (store.root / "runs/r1/train/model.bin").as_uri()
    )


def test_reading_does_not_create_the_root(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "not-yet")
    assert not store.exists("k")
    assert list(store.list()) == []
    assert not (tmp_path / "not-yet").exists()


def test_reserved_names_cannot_be_keys(store: LocalArtifactStore) -> None:
    for key in [".kubepipe/meta/x", "runs/.kubepipe-tmp-123", ".kubepipe"]:
        with pytest.raises(InvalidArtifactKey, match="reserves"):
            store.put_stream(key, io.BytesIO(b"x"))


def test_a_key_and_keys_below_it_conflict_with_a_clear_message(store: LocalArtifactStore) -> None:
    store.put_stream("runs/r1", io.BytesIO(b"x"))
    with pytest.raises(ArtifactStoreError, match="cannot hold both"):
        store.put_stream("runs/r1/out", io.BytesIO(b"y"))
    store.put_stream("a/b", io.BytesIO(b"x"))
    with pytest.raises(ArtifactStoreError, match="cannot hold both"):
        store.put_stream("a", io.BytesIO(b"y"))


def test_delete_removes_emptied_directories(store: LocalArtifactStore) -> None:
    store.put_stream("runs/r1/step/out", io.BytesIO(b"x"))
    store.delete_prefix("runs/r1/")
    assert not (store.root / "runs").exists()
    assert store.root.exists()


def test_hand_placed_files_with_unsafe_names_are_not_listed(store: LocalArtifactStore) -> None:
    store.put_stream("ok", io.BytesIO(b"x"))
    (store.root / "back\\slash").write_bytes(b"y")
    assert [i.key for i in store.list()] == ["ok"]


def test_symlinks_are_not_artifacts(store: LocalArtifactStore, tmp_path: Path) -> None:
    (tmp_path / "secret").write_bytes(b"outside the store")
    store.put_stream("ok", io.BytesIO(b"x"))
    (store.root / "link").symlink_to(tmp_path / "secret")
    assert not store.exists("link")
    with pytest.raises(ArtifactNotFound):
        with store.open("link"):
            pass
    with pytest.raises(ArtifactNotFound):
        store.get_file("link", tmp_path / "out")
    assert [i.key for i in store.list()] == ["ok"]


def test_bookkeeping_is_never_listed(store: LocalArtifactStore) -> None:
    store.put_stream("ok", io.BytesIO(b"x"))
    assert list(store.list(".kubepipe/meta/")) == []
    assert list(store.list(".kube")) == []


# -- digests --------------------------------------------------------------------


def test_stat_and_list_use_the_recorded_digest_without_rehashing(
    store: LocalArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = store.put_stream("big", io.BytesIO(b"x" * 3_000_000))

    def no_hashing(*_args: object) -> None:
        raise AssertionError("stat must not re-hash the artifact")

    monkeypatch.setattr(LocalArtifactStore, "_recover_digest", no_hashing)
    assert store.stat("big") == info
    assert list(store.list()) == [info]


def test_missing_or_stale_record_is_recomputed_once(store: LocalArtifactStore) -> None:
    store.put_stream("k", io.BytesIO(b"old"))
    path = store.root / "k"
    path.write_bytes(b"edited by hand")  # New mtime and size: the record no longer describes it.
    assert store.stat("k").sha256 == sha(b"edited by hand")
    for meta in (store.root / ".kubepipe").rglob("*.json"):
        meta.unlink()
    assert store.stat("k").sha256 == sha(b"edited by hand")
    assert list((store.root / ".kubepipe").rglob("*.json")), (
        "the recomputed digest is recorded again"
    )


def test_get_file_detects_silent_corruption_against_the_recorded_digest(
    store: LocalArtifactStore, tmp_path: Path
) -> None:
    store.put_stream("k", io.BytesIO(b"good bytes"))
    path = store.root / "k"
    before = path.stat()
    with open(path, "r+b") as f:  # Same inode, same size, mtime restored: bit rot.
        f.write(b"B")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(ArtifactIntegrityError, match="'k'"):
        store.get_file("k", tmp_path / "out")
    assert not (tmp_path / "out").exists()


# -- crashes and errors -----------------------------------------------------------


def test_crashed_writer_temp_files_are_invisible_and_cleaned_up(store: LocalArtifactStore) -> None:
    store.put_stream("runs/r1/done", io.BytesIO(b"x"))
    leftover = store.root / "runs/r1" / f"{_atomic.TEMP_PREFIX}deadbeef"
    leftover.write_bytes(b"partial")
    assert [i.key for i in store.list()] == ["runs/r1/done"]
    assert store.cleanup_temp(older_than_seconds=3600) == 0
    assert leftover.exists()
    assert store.cleanup_temp() == 1
    assert not leftover.exists()
    assert [i.key for i in store.list()] == ["runs/r1/done"]


def test_failed_write_removes_its_temp_file(store: LocalArtifactStore) -> None:
    store.put_stream("k", io.BytesIO(b"x"))

    class Broken(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
            raise OSError(errno.ECONNRESET, "Connection reset by peer")

    with pytest.raises(ArtifactStoreError, match="source stream for artifact 'k'"):
        store.put_stream("k", Broken())
    assert temp_files(store.root) == []


def test_os_errors_are_translated_at_the_boundary(
    store: LocalArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_atomic.os, "fsync", disk_full)
    with pytest.raises(
        ArtifactStoreError, match=r"'runs/k'.*No space left on device.*Fix:"
    ) as raised:
        store.put_stream("runs/k", io.BytesIO(b"x"))
    assert isinstance(raised.value.__cause__, OSError)
    monkeypatch.undo()
    assert not store.exists("runs/k")
    assert temp_files(store.root) == []


def test_get_file_into_a_directory_names_the_destination(
    store: LocalArtifactStore, tmp_path: Path
) -> None:
    store.put_stream("k", io.BytesIO(b"x"))
    (tmp_path / "adir").mkdir()
    with pytest.raises(ArtifactStoreError, match="adir"):
        store.get_file("k", tmp_path / "adir")
    assert temp_files(tmp_path) == []


# -- URIs and open_store ----------------------------------------------------------


def test_key_from_uri_refuses_uris_of_other_stores(
    store: LocalArtifactStore, tmp_path: Path
) -> None:
    with pytest.raises(InvalidArtifactKey, match="outside this store"):
        store.key_from_uri((tmp_path / "elsewhere" / "k").as_uri())
    with pytest.raises(InvalidArtifactKey, match="s3://"):
        store.key_from_uri("s3://bucket/k")
    with pytest.raises(InvalidArtifactKey, match="reserves"):
        store.key_from_uri(store.uri_for("runs") + "/.kubepipe-tmp-1")


def test_open_store_accepts_file_uris_and_plain_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    by_uri = open_store((tmp_path / "s").as_uri())
    assert isinstance(by_uri, LocalArtifactStore) and by_uri.root == tmp_path / "s"
    assert isinstance(open_store(str(tmp_path / "s")), LocalArtifactStore)
    monkeypatch.chdir(tmp_path)
    relative = open_store("rel/store")
    assert isinstance(relative, LocalArtifactStore) and relative.root == tmp_path / "rel" / "store"


@pytest.mark.parametrize("uri", ["", "http://example.com/x", "file://relative/path"])
def test_open_store_rejects_bad_locations(uri: str) -> None:
    with pytest.raises(InvalidArtifactKey, match="Fix:"):
        open_store(uri)


def test_module_exports_are_curated() -> None:
    import artifact_store

    assert set(artifact_store.__all__) >= {
        "ArtifactStore",
        "LocalArtifactStore",
        "open_store",
        "pack_path",
    }
    assert local.__all__ == ["LocalArtifactStore"]
