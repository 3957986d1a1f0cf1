"""The local store's kernel-copy path: fallbacks, digests of what was written, and whose fault.

``put_file``/``get_file`` copy with ``copy_file_range`` (else ``sendfile``, else a read/write
loop) and hash the destination on a second thread. These tests force each fallback and each
failure, since the machine running them normally takes only the first path.
"""

from __future__ import annotations

import errno
import hashlib
import os
import sys
import threading
from pathlib import Path

import pytest

from artifact_store import ArtifactStoreError, LocalArtifactStore, _fastcopy
from artifact_store._atomic import TEMP_PREFIX

MIB = 1024 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "store")


@pytest.fixture
def big(tmp_path: Path) -> bytes:
    """Several copy chunks and hash buffers, with a ragged tail."""
    data = os.urandom(MIB) * (2 * _fastcopy.COPY_CHUNK // MIB + 1) + b"ragged tail"
    (tmp_path / "big.bin").write_bytes(data)
    return data


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(TEMP_PREFIX)]


def refuse(*codes: int) -> object:
    """A stand-in for a kernel copy call that refuses with each errno in turn, then forever."""
    calls = []

    def call(*_args: object) -> int:
        calls.append(_args)
        raise OSError(codes[min(len(calls), len(codes)) - 1], os.strerror(codes[0]))

    call.calls = calls  # type: ignore[attr-defined]
    return call


def test_a_multi_chunk_file_round_trips_with_its_digest(
    store: LocalArtifactStore, tmp_path: Path, big: bytes
) -> None:
    info = store.put_file("runs/r1/big.bin", tmp_path / "big.bin")
    assert (info.size, info.sha256) == (len(big), sha(big))
    assert (store.root / "runs/r1/big.bin").read_bytes() == big
    got = store.get_file("runs/r1/big.bin", tmp_path / "back.bin", expected_sha256=info.sha256)
    assert got == info == store.stat("runs/r1/big.bin")
    assert (tmp_path / "back.bin").read_bytes() == big


@pytest.mark.parametrize("refused", ["copy_file_range", "copy_file_range+sendfile"])
def test_kernels_that_refuse_a_copy_method_get_the_next_one(
    store: LocalArtifactStore,
    tmp_path: Path,
    big: bytes,
    refused: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stand_ins = {}
    for name, code in [("copy_file_range", errno.EXDEV), ("sendfile", errno.EINVAL)]:
        if name in refused.split("+"):
            stand_ins[name] = refuse(code)
            monkeypatch.setattr(_fastcopy.os, name, stand_ins[name])
    info = store.put_file("k", tmp_path / "big.bin")
    got = store.get_file("k", tmp_path / "back.bin")
    assert info.sha256 == got.sha256 == sha(big)
    assert (tmp_path / "back.bin").read_bytes() == big
    # Each refused method was tried once per copy and then dropped, not once per chunk.
    assert all(len(call.calls) == 2 for call in stand_ins.values())  # type: ignore[attr-defined]


def test_a_kernel_copy_that_claims_an_empty_source_is_checked_by_reading(
    store: LocalArtifactStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Kernels 5.3-5.18 copy 0 bytes from procfs/sysfs files, which report size 0.
    monkeypatch.setattr(_fastcopy.os, "copy_file_range", lambda *_args: 0)
    (tmp_path / "status").write_bytes(b"State: R (running)\n")
    info = store.put_file("status", tmp_path / "status")
    assert (info.size, info.sha256) == (19, sha(b"State: R (running)\n"))
    (tmp_path / "empty").write_bytes(b"")
    assert store.put_file("empty", tmp_path / "empty").sha256 == sha(b"")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="procfs is Linux's")
def test_pseudo_files_are_stored_whole(store: LocalArtifactStore) -> None:
    expected = Path("/proc/version").read_bytes()
    assert expected and os.stat("/proc/version").st_size == 0
    info = store.put_file("proc-version", Path("/proc/version"))
    assert (info.size, info.sha256) == (len(expected), sha(expected))


def test_a_fifo_is_streamed(store: LocalArtifactStore, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    payload = b"from a producer process\n" * 10_000

    def produce() -> None:
        with open(fifo, "wb") as out:
            out.write(payload)

    producer = threading.Thread(target=produce)
    producer.start()
    info = store.put_file("piped", fifo)
    producer.join()
    assert (info.size, info.sha256) == (len(payload), sha(payload))


def test_a_full_disk_names_the_key_and_leaves_nothing(
    store: LocalArtifactStore, tmp_path: Path, big: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = store.put_file("k", tmp_path / "big.bin")
    real = os.copy_file_range
    calls = []

    def fills_up(src: int, dst: int, count: int) -> int:
        calls.append(count)
        if len(calls) == 2:  # After one chunk is already in the temporary file.
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst, count)

    monkeypatch.setattr(_fastcopy.os, "copy_file_range", fills_up)
    (tmp_path / "new.bin").write_bytes(b"n" * (len(big) - 1))
    with pytest.raises(ArtifactStoreError, match=r"I/O error on artifact 'k'.*No space left.*Fix:"):
        store.put_file("k", tmp_path / "new.bin")
    assert store.stat("k") == old
    assert temp_files(store.root) == []


def test_a_failing_source_is_blamed_on_the_source(
    store: LocalArtifactStore, tmp_path: Path, big: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_fastcopy.os, "copy_file_range", refuse(errno.EIO))
    with pytest.raises(ArtifactStoreError, match=r"reading the source stream for artifact 'k'"):
        store.put_file("k", tmp_path / "big.bin")
    assert not store.exists("k")
    assert temp_files(store.root) == []


def test_a_failing_stored_artifact_is_blamed_on_the_artifact(
    store: LocalArtifactStore, tmp_path: Path, big: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.put_file("k", tmp_path / "big.bin")
    monkeypatch.setattr(_fastcopy.os, "copy_file_range", refuse(errno.EIO))
    dest = tmp_path / "downloads" / "k"
    dest.parent.mkdir()
    with pytest.raises(ArtifactStoreError, match=r"I/O error on artifact 'k' \(file://"):
        store.get_file("k", dest)
    assert list(dest.parent.iterdir()) == []


def test_a_hashing_failure_stops_the_copy_and_publishes_nothing(
    store: LocalArtifactStore, tmp_path: Path, big: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_fastcopy.os, "preadv", refuse(errno.EIO))
    with pytest.raises(ArtifactStoreError, match=r"artifact 'k'.*Fix:"):
        store.put_file("k", tmp_path / "big.bin")
    assert not store.exists("k")
    assert temp_files(store.root) == []


def test_the_digest_describes_the_stored_bytes_even_if_the_source_changes(
    store: LocalArtifactStore, tmp_path: Path, big: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "big.bin"
    real = os.copy_file_range
    calls = []

    def then_edit(src_fd: int, dst: int, count: int) -> int:
        got = real(src_fd, dst, count)
        calls.append(got)
        if len(calls) == 1:  # A writer still busy with the file after the first chunk.
            with open(src, "r+b") as f:
                f.seek(len(big) - 1)
                f.write(b"X")
        return got

    monkeypatch.setattr(_fastcopy.os, "copy_file_range", then_edit)
    info = store.put_file("k", src)
    stored = (store.root / "k").read_bytes()
    assert stored.endswith(b"X") and info.sha256 == sha(stored)
    store.get_file("k", tmp_path / "check")  # Verifies against the recorded digest.
