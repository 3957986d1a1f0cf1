"""Workdir skeletons built ahead of launches (`_spares.py`), and what an engine crash leaves.

The pool is driven with a build function that records what it made, so these tests see exactly
which skeletons were built, taken and removed; one test runs real steps from spares.
"""

from __future__ import annotations

import functools
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _runners_support import MODES, make_runner, request, run_to_end, stdout_of

from engine.runners._spares import SparePool
from engine.runners.base import StepOutcome
from engine.runners.local import LocalRunner


def _fake_build(directory: Path, mode: str) -> str:
    directory.mkdir(parents=True)
    (directory / "made").write_text(mode)
    return f"{mode}-k1"


def _spares(home: Path) -> list[str]:
    return sorted(p.name for p in home.iterdir() if p.name.startswith(".kubepipe-"))


def _eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, "the pool never got there"
        time.sleep(0.02)


def _dead_pid() -> int:
    done = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True, check=True)
    return int(done.stdout)


@pytest.fixture
def pool() -> Iterator[SparePool]:
    spares = SparePool(_fake_build, ahead=2)
    yield spares
    spares.close()


def test_spares_are_made_only_where_each_step_gets_a_new_directory(
    pool: SparePool, tmp_path: Path
) -> None:
    (tmp_path / "shared").mkdir()
    assert not pool.take(tmp_path / "shared" / "wd1", "pathmap", "pathmap-k1")
    time.sleep(0.2)
    assert not pool.take(tmp_path / "shared" / "wd2", "pathmap", "pathmap-k1")
    time.sleep(0.2)
    assert _spares(tmp_path) == [] and _spares(tmp_path / "shared") == []

    run = tmp_path / "run"
    run.mkdir()
    assert not pool.take(run / "n1" / "pod", "pathmap", "pathmap-k1")  # the first finds none
    _eventually(lambda: len(_spares(run)) == 2)
    assert pool.take(run / "n2" / "pod", "pathmap", "pathmap-k1")
    assert (run / "n2" / "pod" / "made").read_text() == "pathmap"
    assert sorted(p.name for p in (run / "n2").iterdir()) == ["pod"]


def test_a_spare_goes_into_an_existing_step_directory(pool: SparePool, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    pool.take(run / "n1" / "pod", "overlay", "overlay-k1")
    _eventually(lambda: len(_spares(run)) == 2)
    (run / "n2" / "staging").mkdir(parents=True)  # inputs staged before the launch
    assert pool.take(run / "n2" / "pod", "overlay", "overlay-k1")
    assert sorted(p.name for p in (run / "n2").iterdir()) == ["pod", "staging"]
    assert (run / "n2" / "pod" / "made").read_text() == "overlay"


def test_a_spare_of_another_kind_is_not_taken(pool: SparePool, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    pool.take(run / "n1" / "pod", "pathmap", "pathmap-k1")
    _eventually(lambda: len(_spares(run)) == 2)
    # The host changed (another skeleton is wanted now): no old spare is used, and they go.
    assert not pool.take(run / "n2" / "pod", "pathmap", "pathmap-k2")
    assert not (run / "n2").exists()
    _eventually(lambda: not any("-k1-" in name for name in _spares(run)))


def test_close_removes_spares_unless_they_are_kept_for_a_takeover(tmp_path: Path) -> None:
    for keep in (False, True):
        run = tmp_path / f"run-{keep}"
        run.mkdir()
        spares = SparePool(_fake_build, ahead=2)
        spares.take(run / "n1" / "pod", "pathmap", "pathmap-k1")
        _eventually(functools.partial(lambda home: len(_spares(home)) == 2, run))
        spares.close(keep_spares=keep)
        assert len(_spares(run)) == (2 if keep else 0)


def test_a_new_pool_takes_what_a_dead_one_left_and_removes_half_built_ones(
    pool: SparePool, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    dead = _dead_pid()
    left = run / f".kubepipe-spare-pathmap-k1-{dead}-7" / "s"
    _fake_build(left, "left-by-a-dead-engine")
    half = run / f".kubepipe-building-{dead}-8" / "s"
    half.mkdir(parents=True)
    other = run / f".kubepipe-spare-overlay-old-{dead}-9" / "s"
    _fake_build(other, "overlay")

    assert not pool.take(run / "n1" / "pod", "pathmap", "pathmap-k1")
    _eventually(lambda: not half.parent.exists() and not other.parent.exists())
    workdirs = [run / f"n{i}" / "pod" for i in range(2, 5)]
    taken = [w for w in workdirs if pool.take(w, "pathmap", "pathmap-k1")]
    assert any((t / "made").read_text() == "left-by-a-dead-engine" for t in taken)


@pytest.mark.parametrize("mode", MODES)
def test_steps_launched_from_spares_run_as_any_other(mode: str, tmp_path: Path) -> None:
    runner: LocalRunner
    for runner in make_runner(mode):
        run = tmp_path / "run"
        script = 'echo -n out > /tmp/o; test -d "$HOME" && test -w /var/tmp && echo ok'
        for i in range(4):
            status = run_to_end(
                runner, request(run / f"n{i}" / "pod", ["sh", "-c", script], outputs=["/tmp/o"])
            )
            assert status.outcome is StepOutcome.EXITED and status.exit_code == 0, status
            assert stdout_of(status) == "ok\n"
            collected = status.outputs["/tmp/o"]
            assert collected is not None and collected.read_text() == "out"
            time.sleep(0.3)  # time to build the next spare
        assert len(_spares(run)) == 2
    assert _spares(run) == []  # closing the runner removed them
