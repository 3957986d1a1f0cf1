"""Artifact store throughput and memory: put and get of one big artifact, beside a plain copy.

For each store (the local directory store, and the S3 store against a moto S3 server this
script starts on 127.0.0.1) it times ``put_file`` and ``get_file`` of one artifact (1 GiB by
default) and prints MiB/s beside ``shutil.copyfile`` of the same file on the same disk, the
ratio of the two, and the process's peak RSS during each operation (Linux: VmHWM, reset
between operations through /proc/self/clear_refs; elsewhere the process-wide ru_maxrss).

Targets (from the durable-state issue): the local store at >= 70% of the copy's speed, and
a peak RSS <= 100 MB for any artifact size. It prints figures and asserts nothing.

Reading the figures:
- ``copyfile`` is the kernel's copy (copy_file_range/sendfile) into the page cache, with no
  fsync; ``copyfile+fsync`` adds the flush that a store's durable write pays. The local
  store hashes every byte (sha256) and fsyncs, so ``copyfile+fsync`` is the like-for-like
  baseline and ``copyfile`` the ``cp`` the target names; both ratios are printed.
- ``sha256 only`` reads the file and hashes it, nothing else: the local store records a
  sha256 of every artifact, and one sha256 runs on one core, so this row bounds every store
  operation from above. Where it is below 70% of ``copyfile``, the target cannot be met
  without giving up the digest; the summary says how close the store comes to it.
- Each timed operation writes a file that does not exist yet (the previous run's output is
  removed outside the timing), as for the copy baselines.
- The S3 figures are dominated by moto, a Python server that keeps whole objects in memory
  (its own peak RSS is printed separately: it is another process). MinIO is much faster;
  what this run shows for S3 is that the client's memory stays bounded.

``python bench/artifacts.py [--quick] [--size 1GiB] [--only local|s3] [--dir DIR]
[--part-size 5MiB] [--stream] [--repeat 2]``. ``--quick`` is 64 MiB. Each operation runs
``--repeat`` times and the fastest run is shown (with the highest peak RSS of all runs),
beside the process's own CPU seconds for it. ``--stream`` also times
``put_stream`` (S3 spools the stream to a temporary file first). The files live in a fresh
temporary directory under ``--dir`` (default: ``TMPDIR``), removed at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from artifact_store import ArtifactStore, LocalArtifactStore
from artifact_store.base import CHUNK_SIZE
from artifact_store.testing import start_moto_server

MIB = 1024 * 1024
TARGET_RATIO = 0.70
TARGET_RSS_MB = 100.0
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kib": 1024,
    "m": MIB,
    "mib": MIB,
    "g": 1024 * MIB,
    "gib": 1024 * MIB,
}


def parse_size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in _UNITS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 1GiB, 64MiB or 1048576")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


# -- memory -------------------------------------------------------------------------


def _status_kib(field: str, pid: int | str = "self") -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak_rss() -> bool:
    """Make VmHWM start again from the current RSS (Linux >= 4.0); False if unsupported."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
            clear.write("5")
        return _status_kib("VmHWM") is not None
    except OSError:
        return False


def peak_rss_mb() -> float:
    hwm = _status_kib("VmHWM")
    if hwm is not None:
        return hwm / 1024
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)


# -- measurements ---------------------------------------------------------------------


@dataclass
class Row:
    name: str
    seconds: float
    cpu_seconds: float
    size: int
    rss_mb: float
    start_mb: float

    @property
    def mib_s(self) -> float:
        return self.size / MIB / self.seconds if self.seconds > 0 else float("inf")


def measure(
    name: str,
    size: int,
    action: Callable[[], object],
    repeat: int,
    after: Callable[[], object] | None = None,
) -> Row:
    """Run ``action`` ``repeat`` times; keep the fastest run and the highest peak RSS."""
    best: Row | None = None
    for _ in range(repeat):
        reset_peak_rss()
        start_mb = (_status_kib("VmRSS") or 0) / 1024
        cpu_before = _cpu_seconds()
        started = time.perf_counter()
        action()
        seconds = time.perf_counter() - started
        row = Row(name, seconds, _cpu_seconds() - cpu_before, size, peak_rss_mb(), start_mb)
        if after is not None:
            after()
        if best is None or row.seconds < best.seconds:
            row.rss_mb = max(row.rss_mb, best.rss_mb if best else 0.0)
            best = row
        else:
            best.rss_mb = max(best.rss_mb, row.rss_mb)
    assert best is not None
    print(
        f"  {name:<20} {best.seconds:8.2f} s {best.mib_s:9.1f} MiB/s  CPU {best.cpu_seconds:6.2f} s"
        f"  peak RSS {best.rss_mb:6.1f} MB (+{best.rss_mb - best.start_mb:.1f} over the "
        f"{best.start_mb:.1f} MB before)"
    )
    return best


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def make_source(path: Path, size: int) -> str:
    """Write ``size`` bytes of incompressible data, in bounded chunks; return their sha256."""
    digest = hashlib.sha256()
    block = os.urandom(MIB)
    with open(path, "wb") as out:
        written = 0
        while written < size:
            # Vary each MiB so no layer can deduplicate, without paying urandom per byte.
            chunk = (written // MIB).to_bytes(8, "little") + block[8 : min(MIB, size - written)]
            chunk = chunk[: size - written]
            out.write(chunk)
            digest.update(chunk)
            written += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def hash_only(src: Path) -> str:
    """Read and sha256 the file with one reused buffer: the least any store that records a
    sha256 per artifact must do, so no such store can beat this row (one core hashes)."""
    digest = hashlib.sha256()
    view = memoryview(bytearray(2 * MIB))
    with open(src, "rb", buffering=0) as handle:
        while count := handle.readinto(view):
            digest.update(view[:count])
    return digest.hexdigest()


def copy_and_fsync(src: Path, dest: Path) -> None:
    shutil.copyfile(src, dest)
    with open(dest, "rb+") as handle:
        os.fsync(handle.fileno())


class PatternReader:
    """A stream of the source file's bytes for put_stream, read in CHUNK_SIZE pieces."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()

    def read(self, size: int = -1) -> bytes:
        return self._file.read(CHUNK_SIZE if size < 0 else min(size, CHUNK_SIZE))

    def close(self) -> None:
        self._file.close()


def store_delete(store: ArtifactStore, key: str) -> Callable[[], None]:
    return lambda: store.delete(key)


def run_cp(src: Path, dest: Path) -> None:
    subprocess.run(["cp", str(src), str(dest)], check=True)


def run_store(
    label: str,
    store: ArtifactStore,
    src: Path,
    dest: Path,
    digest: str,
    args: argparse.Namespace,
) -> list[Row]:
    size, repeat = args.size, args.repeat
    key = "runs/bench/train/model.bin"
    # Like the copy baselines, every timed run writes a new file: replacing the previous
    # run's 1 GiB inside the timing would charge the store for freeing its blocks.
    rows = [
        measure(
            f"{label} put_file",
            size,
            lambda: store.put_file(key, src),
            repeat,
            store_delete(store, key),
        )
    ]
    store.put_file(key, src)
    rows.append(
        measure(f"{label} get_file", size, lambda: store.get_file(key, dest), repeat, dest.unlink)
    )
    store.get_file(key, dest)
    info = store.stat(key)
    if info.sha256 != digest or info.size != size or dest.stat().st_size != size:
        print(f"  !! {label}: stored {info} does not match the source ({digest}, {size} bytes)")
    dest.unlink()
    if args.stream:

        def put_stream() -> object:
            reader = PatternReader(src)
            try:
                return store.put_stream(key, reader)  # type: ignore[arg-type]
            finally:
                reader.close()

        rows.append(measure(f"{label} put_stream", size, put_stream, repeat))
    store.delete(key)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--size", type=parse_size, default=1024 * MIB, help="artifact size (default 1GiB)"
    )
    parser.add_argument("--quick", action="store_true", help="a 64 MiB artifact")
    parser.add_argument("--only", choices=["local", "s3"], help="measure one store only")
    parser.add_argument(
        "--dir", type=Path, default=None, help="where the files go (default: TMPDIR)"
    )
    parser.add_argument(
        "--part-size", type=parse_size, default=5 * MIB, help="S3 multipart part size"
    )
    parser.add_argument("--stream", action="store_true", help="also time put_stream")
    parser.add_argument(
        "--repeat", type=int, default=2, help="runs per operation; the fastest is kept (2)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.size = 64 * MIB
    size = args.size

    work = Path(tempfile.mkdtemp(prefix="kubepipe-bench-artifacts-", dir=args.dir))
    try:
        src, dest = work / "source.bin", work / "dest.bin"
        print(f"artifact: {size / MIB:.0f} MiB in {work}")
        print(
            f"python {sys.version.split()[0]}, "
            f"RSS after imports {(_status_kib('VmRSS') or 0) / 1024:.1f} MB"
        )
        if not reset_peak_rss():
            print("  (no /proc/self/clear_refs: peak RSS figures are process-wide ru_maxrss)")
        digest = make_source(src, size)

        print(f"baselines (same disk; fastest of {args.repeat}):")
        copy = measure(
            "copyfile", size, lambda: shutil.copyfile(src, dest), args.repeat, dest.unlink
        )
        synced = measure(
            "copyfile+fsync", size, lambda: copy_and_fsync(src, dest), args.repeat, dest.unlink
        )
        ceiling = measure("sha256 only", size, lambda: hash_only(src), args.repeat)
        baselines = [copy, synced, ceiling]
        if shutil.which("cp"):
            baselines.append(
                measure("cp", size, lambda: run_cp(src, dest), args.repeat, dest.unlink)
            )
        rows: list[Row] = []

        if args.only in (None, "local"):
            print("local store:")
            store = LocalArtifactStore(work / "local-store")
            rows += run_store("local", store, src, dest, digest, args)

        if args.only in (None, "s3"):
            from artifact_store.s3 import S3ArtifactStore

            print("S3 store (moto server in a child process):")
            with start_moto_server() as server:
                s3 = S3ArtifactStore(
                    "kubepipe-bench",
                    endpoint=server.endpoint,
                    access_key="bench",
                    secret_key="bench-secret",
                    region="us-east-1",
                    part_size=args.part_size,
                )
                rows += run_store("s3", s3, src, dest, digest, args)
                moto_hwm = _status_kib("VmHWM", server.pid)
            if moto_hwm is not None:
                print(f"  (the moto server process itself peaked at {moto_hwm / 1024:.0f} MB)")

        print()
        print(
            f"{'operation':<20} {'MiB/s':>9} {'vs copyfile':>12} {'vs copy+fsync':>14} "
            f"{'CPU s':>7} {'peak RSS MB':>12}"
        )
        for row in [*baselines, *rows]:
            print(
                f"{row.name:<20} {row.mib_s:9.1f} {row.mib_s / copy.mib_s:12.0%} "
                f"{row.mib_s / synced.mib_s:14.0%} {row.cpu_seconds:7.2f} {row.rss_mb:12.1f}"
            )
        local_rows = [r for r in rows if r.name.startswith("local ")]
        if local_rows:
            worst = min(local_rows, key=lambda r: r.mib_s)
            verdict = "meets" if worst.mib_s >= TARGET_RATIO * copy.mib_s else "misses"
            print(
                f"target local >= {TARGET_RATIO:.0%} of copyfile: {verdict} (slowest: {worst.name} "
                f"at {worst.mib_s / copy.mib_s:.0%}; "
                f"{worst.mib_s / synced.mib_s:.0%} of copy+fsync; "
                f"{worst.mib_s / ceiling.mib_s:.0%} of hashing alone, whose own ceiling is "
                f"{ceiling.mib_s / copy.mib_s:.0%} of copyfile)"
            )
        peak = max(r.rss_mb for r in rows) if rows else peak_rss_mb()
        verdict = "meets" if peak <= TARGET_RSS_MB else "misses"
        print(
            f"target peak RSS <= {TARGET_RSS_MB:.0f} MB during any store operation: "
            f"{verdict} ({peak:.1f} MB)"
        )
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"process peak RSS over the whole run (ru_maxrss): {maxrss:.1f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
