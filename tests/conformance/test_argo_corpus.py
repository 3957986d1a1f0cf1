"""Conformance: every Argo example the corpus INDEX marks runnable reaches the phase it is written to reach.

The examples are sleep-bound (several sleep 30 s on purpose), so they run in a pool of worker
processes, each with its own kubepipe home; the assertions then read the collected outcomes.
"""

from __future__ import annotations

import multiprocessing
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from corpus_runner import (
    CORPUS,
    SKIPPED,
    Outcome,
    commands_available,
    run_example,
    runnable_examples,
)

pytestmark = pytest.mark.skipif(
    not CORPUS.is_dir(), reason=f"the Argo examples corpus is absent ({CORPUS})"
)

NAMES = runnable_examples() if CORPUS.is_dir() else []


def _run(name: str) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="kubepipe-conformance-") as home:
        try:
            return run_example(name, Path(home), timeout=240.0)
        except Exception as exc:  # a crash is a result to report, not a reason to lose the others
            return Outcome(name, f"crashed: {type(exc).__name__}", set(), 0.0, str(exc)[:2000])


@pytest.fixture(scope="module")
def outcomes() -> dict[str, Outcome]:
    todo = [n for n in NAMES if n not in SKIPPED and commands_available(CORPUS / n)[0]]
    with ProcessPoolExecutor(
        max_workers=8, mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        return dict(zip(todo, pool.map(_run, todo)))


def test_index_lists_runnable_examples() -> None:
    assert len(NAMES) >= 100, "the INDEX parser found too few runnable examples"
    assert not set(SKIPPED) - set(NAMES), (
        "every skipped example must be one the INDEX marks runnable"
    )


@pytest.mark.parametrize("name", NAMES)
def test_example_reaches_its_phase(name: str, outcomes: dict[str, Outcome]) -> None:
    if name in SKIPPED:
        pytest.skip(SKIPPED[name])
    available, why = commands_available(CORPUS / name)
    if not available:
        pytest.skip(why)
    out = outcomes[name]
    assert out.phase in out.expected, (
        f"{name}: {out.phase} ({out.message}), want {sorted(out.expected)}"
    )
