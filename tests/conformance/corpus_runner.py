"""Run the Argo project's example workflows (../shared/corpus/argo-examples) on the embedded engine.

Shared by the conformance test and by `python tests/conformance/corpus_runner.py` (a report).
"""

from __future__ import annotations

import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "argo-examples"

# Examples marked runnable in the INDEX that this engine does not run, each with the reason.
SKIPPED: dict[str, str] = {
    "forever.yaml": "never terminates by design (a stop/terminate demo)",
}

# The phases an example is written to reach. Argo labels the ones that fail on purpose
# `workflows.argoproj.io/no-test: expected-failure`; these differ from that label, with why.
EXPECTED: dict[str, tuple[set[str], str]] = {
    "timeouts-workflow.yaml": (
        {"Failed"},
        "the workflow deadline (activeDeadlineSeconds) kills it",
    ),
    "loops-arbitrary-sequential-steps.yaml": (
        {"Failed"},
        "item 3 exits 1 and failFast stops the loop",
    ),
    "pod-gc-strategy.yaml": ({"Failed"}, "its `fail` step exits 1 to show pod GC on failure"),
    "pod-gc-strategy-with-label-selector.yaml": ({"Failed"}, "its `fail` step exits 1"),
    "retry-conditional.yaml": (
        {"Failed"},
        "retries only while the exit code is > 1; exit 1 ends it Failed",
    ),
    "step-level-timeout.yaml": (
        {"Failed"},
        "the template timeout fails sleep1, which only continues on Error",
    ),
    "continue-on-fail.yaml": (
        {"Succeeded"},
        "labelled expected-failure, but continueOn.failed keeps the "
        "step group (and so the run) Succeeded, as Argo's executeStepGroup does",
    ),
    # Random outcomes (random.choice of exit codes): either end is the example working.
    "resubmit.yaml": ({"Succeeded", "Failed"}, "random exit codes"),
    "retry-on-error.yaml": ({"Succeeded", "Failed"}, "random exit codes, limited retries"),
    "template-defaults.yaml": ({"Succeeded", "Failed"}, "random exit codes, limited retries"),
    "custom-metrics.yaml": ({"Succeeded", "Failed"}, "its `flakey` step fails at random"),
    "retry-backoff.yaml": ({"Succeeded", "Failed"}, "random exit codes, limited retries"),
    "retry-container.yaml": ({"Succeeded", "Failed"}, "random exit codes, limited retries"),
    "retry-script.yaml": ({"Succeeded", "Failed"}, "random exit codes, limited retries"),
    "retry-with-steps.yaml": ({"Succeeded", "Failed"}, "random exit codes, limited retries"),
}


def expected_phases(path: Path) -> set[str]:
    if path.name in EXPECTED:
        return EXPECTED[path.name][0]
    text = path.read_text(encoding="utf-8")
    return {"Failed"} if re.search(r"no-test:\s*\"?expected-failure", text) else {"Succeeded"}


# Examples that wait for `argo resume` (and `argo node set` outputs): the runner resumes them,
# supplying these outputs, as soon as they suspend.
RESUME_OUTPUTS: dict[str, dict[str, str]] = {
    "suspend-template.yaml": {},
    "suspend-template-outputs.yaml": {"message": "approved"},
    "intermediate-parameters.yaml": {"approve": "YES"},
}

# Parameters an example expects at submission (Argo gets them from an event binding).
SUBMIT_PARAMETERS: dict[str, dict[str, str]] = {
    "event-consumer-workflowtemplate.yaml": {"salutation": "hello", "appellation": "kubepipe"},
}


def runnable_examples() -> list[str]:
    """File names the INDEX marks `yes` (runnable without a cluster)."""
    index = (CORPUS / "INDEX.md").read_text(encoding="utf-8")
    names = []
    for line in index.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 6 and cells[1].isdigit() and cells[6].startswith("yes"):
            names.append(cells[2])
    return names


def commands_available(path: Path) -> tuple[bool, str]:
    """Whether every bare command the example runs exists here (images are ignored)."""
    text = path.read_text(encoding="utf-8")
    for command in re.findall(r"command:\s*\[\s*\"?([A-Za-z0-9_./-]+)", text):
        if "/" not in command and shutil.which(command) is None:
            return False, f"command {command!r} is not installed"
    return True, ""


@dataclass
class Outcome:
    name: str
    phase: str
    expected: set[str]
    seconds: float
    message: str


def run_example(name: str, home: Path, timeout: float = 120.0) -> Outcome:
    from artifact_store import open_store
    from engine.cli import load_and_validate
    from engine.executor import Engine
    from engine.metadata.store import MetadataStore
    from engine.runners.local import LocalRunner, LocalRunnerSettings
    from engine.phases import NodePhase, NodeType
    from engine.settings import Settings
    from engine.state import RunState

    settings = Settings(home=home)
    expected = expected_phases(CORPUS / name)
    start = time.time()
    workflow, source = load_and_validate(str(CORPUS / name), SUBMIT_PARAMETERS.get(name))
    metadata = MetadataStore(settings.database_url)
    runner = LocalRunner(LocalRunnerSettings(isolation=settings.isolation))
    engine = Engine(
        metadata,
        open_store(settings.artifact_location),
        runner,
        work_root=settings.work_root,
        poll_interval=0.2,
    )
    try:
        record = engine.submit(workflow, source=source)
        deadline = start + timeout

        resumed: set[str] = set()

        def guard(state: RunState) -> None:
            if time.time() > deadline:
                metadata.request_stop(record.id, f"conformance timeout after {timeout:.0f}s")
            if name in RESUME_OUTPUTS:
                for node in state.nodes.values():
                    waiting = node.type is NodeType.SUSPEND and node.phase is NodePhase.RUNNING
                    if waiting and node.extra.get("resume_at") is None and node.id not in resumed:
                        resumed.add(node.id)
                        metadata.request_resume(record.id, node.id, RESUME_OUTPUTS[name])

        final = engine.execute(record.id, on_change=guard)
    finally:
        runner.close()
        metadata.close()
    return Outcome(name, final.phase.value, expected, time.time() - start, final.message)


if __name__ == "__main__":
    import tempfile

    names = sys.argv[1:] or [n for n in runnable_examples() if n not in SKIPPED]
    ok = 0
    for name in names:
        available, why = commands_available(CORPUS / name)
        if not available:
            print(f"SKIP {name}: {why}")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            try:
                out = run_example(name, Path(tmp))
            except Exception as exc:  # report every failure, keep going
                print(f"EXC  {name}: {type(exc).__name__}: {str(exc)[:300]}")
                continue
        good = out.phase in out.expected
        ok += good
        print(
            f"{'ok  ' if good else 'BAD '} {name}: {out.phase} (want {out.expected}) {out.seconds:.1f}s {out.message[:200]}"
        )
    print(f"{ok}/{len(names)} reached the expected phase")
