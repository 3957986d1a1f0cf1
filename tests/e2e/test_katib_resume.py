"""A Katib Experiment whose engine is killed with SIGKILL mid-experiment: a restarted
`kubepipe engine --until-idle` finishes it with exactly maxTrialCount trials, no assignment
handed out twice, and every trial's process run once."""

from __future__ import annotations

import time
from pathlib import Path

from katib_e2e_support import (
    create_step,
    engine_env,
    experiment,
    kill,
    kubepipe,
    submit,
    trials,
    wait_for_trials,
    workflow,
)

from engine.metadata.store import MetadataStore

MAX_TRIALS = 6


def _workflow(ledger: Path) -> str:
    code = (
        "import sys, time\n"
        "x, y = sys.argv[1], sys.argv[2]\n"
        f"open({str(ledger)!r}, 'a').write(f'{{x}},{{y}}\\n')\n"
        "time.sleep(0.6)\n"
        "print(f'loss={(float(x) - 1) ** 2 + (float(y) - 2) ** 2}')\n"
    )
    tuned = experiment("resume", "tpe", code, max_trials=MAX_TRIALS, settings={"random_state": "9"})
    return workflow("katib-resume-", create_step(tuned))


def test_a_killed_engine_resumes_the_experiment_exactly(tmp_path: Path, ledger_dir: Path) -> None:
    home = tmp_path / "home"
    ledger = ledger_dir / "ledger.log"
    path = tmp_path / "wf.yaml"
    path.write_text(_workflow(ledger))
    env = engine_env(home)
    run_id = submit(env, path)
    store = MetadataStore(f"sqlite:///{home / 'kubepipe.db'}")
    for trials_seen, extra in ((1, 0.1), (3, 0.3)):  # kill once trials exist, mid-trial
        engine = kubepipe(env, "engine")
        wait_for_trials(store, run_id, trials_seen)
        time.sleep(extra)
        kill(engine)
        time.sleep(1.1)  # let the dead engine's lease expire
    before = store.load_state(run_id)
    started = trials(before)
    assert not before.run.phase.is_finished and 0 < len(started) < MAX_TRIALS  # killed mid-way
    last = kubepipe(env, "engine", "--until-idle")
    _, err = last.communicate(timeout=120)
    assert last.returncode == 0, err
    state = store.load_state(run_id)
    assert state.run.phase.value == "Succeeded", state.run.message
    finished = trials(state)
    assert len(finished) == MAX_TRIALS
    assignments = [(t.inputs["parameters"]["x"], t.inputs["parameters"]["y"]) for t in finished]
    assert len(set(assignments)) == MAX_TRIALS, assignments
    assert len({t.display_name for t in finished}) == MAX_TRIALS
    assert all(t.phase.value == "Succeeded" for t in finished), [t.message for t in finished]
    status = next(n for n in state.nodes.values() if "resource" in n.extra).extra["resource"][
        "status"
    ]
    assert status["trials"] == status["trialsSucceeded"] == MAX_TRIALS
    assert [c["reason"] for c in status["conditions"]][-1] == "ExperimentMaxTrialsReached"
    ran = [tuple(line.split(",")) for line in ledger.read_text().splitlines()]
    assert sorted(ran) == sorted(assignments)  # each trial's process ran exactly once
