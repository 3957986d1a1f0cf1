"""Outputs are files of the step: a symlink the step made never leads the runner to a host file.

The runner reads outputs with more rights than the step has (and, in pathmap mode, from the
host's own namespace), so `ln -s /etc/shadow /tmp/out` with `/tmp/out` declared as an output
must be refused, in both isolation modes, and nothing of the link's target may be copied.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from _runners_support import MODES, make_runner, request, run_to_end

from engine.runners.base import StepStatus
from engine.runners.local import LocalRunner

SECRET = "host secret that no step may export"


@pytest.fixture(params=MODES)
def runner(request: pytest.FixtureRequest) -> Iterator[LocalRunner]:
    yield from make_runner(request.param)


@pytest.fixture
def secret() -> Iterator[Path]:
    """A host file the step has no business reading (the stand-in for /etc/shadow).

    Outside /tmp: a path-mapped step's /tmp (and argv naming it) is its own, not the host's.
    """
    if not os.path.isdir("/dev/shm"):
        pytest.skip("needs /dev/shm for a host file outside the step's mapped paths")
    with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="kubepipe-secret-") as folder:
        path = Path(folder) / "shadow"
        path.write_text(SECRET)
        yield path


def _run(runner: LocalRunner, workdir: Path, script: str, outputs: list[str]) -> StepStatus:
    status = run_to_end(runner, request(workdir, ["sh", "-c", script], outputs=outputs))
    assert status.exit_code == 0, status.stderr_path.read_text()
    return status


def _nothing_of(secret: Path, workdir: Path) -> None:
    """No collected file, and no link a later reader could follow, reaches the secret."""
    for folder, dirs, files in os.walk(workdir / "outputs"):
        for name in [*dirs, *files]:
            path = Path(folder) / name
            assert os.path.realpath(path) != str(secret), path
            if path.is_file() and not path.is_symlink():
                assert SECRET not in path.read_text(errors="replace"), path


def test_an_output_that_is_a_link_to_a_host_file_is_refused(
    runner: LocalRunner, tmp_path: Path, secret: Path
) -> None:
    status = _run(runner, tmp_path / "s", f"ln -s {secret} /tmp/out", ["/tmp/out"])
    assert status.outputs["/tmp/out"] is None
    why = status.refused_outputs["/tmp/out"]
    assert "/tmp/out" in why and "symbolic link" in why and str(secret) in why
    _nothing_of(secret, tmp_path / "s")


def test_links_inside_an_output_directory_are_copied_as_links_never_read(
    runner: LocalRunner, tmp_path: Path, secret: Path
) -> None:
    """Whoever stores the directory decides about them (see tests/e2e/test_output_links.py)."""
    climb = "../" * 40 + str(secret).lstrip("/")
    script = (
        f"mkdir -p /tmp/outdir/sub && echo ok > /tmp/outdir/a && ln -s {secret} /tmp/outdir/b"
        f" && ln -s {climb} /tmp/outdir/sub/c"
    )
    status = _run(runner, tmp_path / "s", script, ["/tmp/outdir"])
    outdir = status.outputs["/tmp/outdir"]
    assert outdir is not None and not status.refused_outputs
    assert (outdir / "a").read_text() == "ok\n"
    assert os.readlink(outdir / "b") == str(secret)
    assert os.readlink(outdir / "sub" / "c") == climb
    for folder, _dirs, files in os.walk(tmp_path / "s" / "outputs"):
        for name in files:
            path = Path(folder) / name
            if not path.is_symlink():
                assert SECRET not in path.read_text(errors="replace"), path


def test_a_link_on_the_way_to_an_output_is_refused(
    runner: LocalRunner, tmp_path: Path, secret: Path
) -> None:
    script = f"ln -s {secret.parent} /tmp/d"
    status = _run(runner, tmp_path / "s", script, ["/tmp/d/shadow"])
    assert status.outputs["/tmp/d/shadow"] is None
    assert "/tmp/d is a symbolic link" in status.refused_outputs["/tmp/d/shadow"]
    _nothing_of(secret, tmp_path / "s")


def test_links_between_files_of_one_output_directory_are_kept(
    runner: LocalRunner, tmp_path: Path
) -> None:
    script = (
        "mkdir -p /tmp/outdir/lib /tmp/outdir/bin && echo v1 > /tmp/outdir/lib/libx.so.1"
        " && ln -s libx.so.1 /tmp/outdir/lib/libx.so && ln -s ../lib/libx.so /tmp/outdir/bin/x"
        " && echo plain > /tmp/plain && chmod 751 /tmp/plain"
    )
    status = _run(runner, tmp_path / "s", script, ["/tmp/outdir", "/tmp/plain"])
    outdir, plain = status.outputs["/tmp/outdir"], status.outputs["/tmp/plain"]
    assert not status.refused_outputs
    assert outdir is not None and plain is not None
    assert os.readlink(outdir / "bin" / "x") == "../lib/libx.so"
    assert (outdir / "bin" / "x").read_text() == "v1\n"
    assert plain.read_text() == "plain\n" and (plain.stat().st_mode & 0o777) == 0o751


def test_a_fifo_output_is_skipped_without_blocking(runner: LocalRunner, tmp_path: Path) -> None:
    status = _run(runner, tmp_path / "s", "mkfifo /tmp/pipe", ["/tmp/pipe"])
    assert status.outputs["/tmp/pipe"] is None and not status.refused_outputs
