"""`kubepipe katib resume RUN --max-trial-count N`: a finished experiment that ended
MaxTrialsReached continues in place from its saved suggestion state up to exactly N trials,
with no assignment repeated and no finished trial run again; the step before it is kept, the
step that read its result runs again; `resumePolicy: Never` and bad budgets are refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from e2e_support import by_name
from katib_e2e_support import PY, create_step, experiment, trials_json, workflow


def _workflow(ledger: Path, policy: str, max_trials: int = 3) -> str:
    trial = (
        "import sys\n"
        "x, y = sys.argv[1], sys.argv[2]\n"
        f"open({str(ledger)!r}, 'a').write(f'trial {{x}},{{y}}\\n')\n"
        "print(f'loss={(float(x) - 1) ** 2 + (float(y) - 2) ** 2}')\n"
    )
    tuned = experiment(
        "budget",
        "random",
        trial,
        max_trials=max_trials,
        settings={"random_state": "5"},
        resume_policy=policy,
    )

    def step(name: str, code: str, inputs: dict[str, Any] | None = None) -> dict[str, Any]:
        template: dict[str, Any] = {
            "name": name,
            "container": {"image": "python:3.11", "command": [PY, "-c", code]},
        }
        if inputs:
            template["inputs"] = inputs
        return template

    main = {
        "name": "main",
        "steps": [
            [{"name": "before", "template": "before"}],
            [{"name": "tune", "template": "tune"}],
            [
                {
                    "name": "report",
                    "template": "report",
                    "arguments": {
                        "parameters": [
                            {"name": "best", "value": "{{steps.tune.outputs.parameters.best}}"}
                        ]
                    },
                }
            ],
        ],
    }
    return workflow(
        "budget-",
        main,
        step("before", f"open({str(ledger)!r}, 'a').write('before\\n')"),
        create_step(tuned, outputs={"best": "{.status.currentOptimalTrial.bestTrialName}"}),
        step(
            "report",
            f"open({str(ledger)!r}, 'a').write('report {{{{inputs.parameters.best}}}}\\n')",
            {"parameters": [{"name": "best"}]},
        ),
    )


def test_resume_continues_to_exactly_the_new_budget(
    cli, run_json, tmp_path: Path, ledger_dir: Path
) -> None:
    ledger = ledger_dir / "ledger.txt"
    path = tmp_path / "budget.yaml"
    path.write_text(_workflow(ledger, "LongRunning"))
    code, first = run_json(path)
    assert code == 0 and first["phase"] == "Succeeded", first["message"]
    assert len(trials_json(first)) == 3

    result = cli("katib", "resume", first["id"], "--max-trial-count", "5", "-o", "json")
    assert result.exit_code == 0, result.output
    second = json.loads(result.stdout)
    assert second["id"] == first["id"] and second["phase"] == "Succeeded", second["message"]
    found = trials_json(second)
    assert len(found) == 5
    assert {t["id"] for t in trials_json(first)} <= {t["id"] for t in found}  # the old ones kept
    lines = ledger.read_text().splitlines()
    launched = [line for line in lines if line.startswith("trial ")]
    assert len(launched) == 5 and len(set(launched)) == 5  # each trial ran once, all distinct
    assert lines.count("before") == 1  # started before the experiment ended: kept
    reports = [line for line in lines if line.startswith("report ")]
    nodes = by_name(second)
    best = nodes["tune"]["outputs"]["parameters"]["best"]
    assert len(reports) == 2 and reports[-1] == f"report {best}"  # re-ran with the new optimum
    losses = {t["displayName"]: float(t["outputs"]["parameters"]["objective"]) for t in found}
    assert best == min(losses, key=lambda k: losses[k])

    again = cli("katib", "resume", first["id"], "--max-trial-count", "5")
    assert again.exit_code == 1
    assert "spec.maxTrialCount: --max-trial-count 5 must be larger than the current 5" in (
        again.output
    )


def test_resume_policy_never_is_refused_and_changes_nothing(
    cli, run_json, tmp_path: Path, ledger_dir: Path
) -> None:
    path = tmp_path / "never.yaml"
    path.write_text(_workflow(ledger_dir / "ledger.txt", "Never", max_trials=2))
    code, first = run_json(path)
    assert code == 0
    result = cli("katib", "resume", first["id"], "--max-trial-count", "4")
    assert result.exit_code == 1
    assert "spec.resumePolicy: resumePolicy is Never" in result.output
    assert "set spec.resumePolicy: LongRunning or FromVolume" in result.output
    after = json.loads(cli("get", first["id"], "-o", "json").stdout)
    assert after["phase"] == "Succeeded" and len(trials_json(after)) == 2
    missing = cli("katib", "resume", first["id"], "--step", "nope", "--max-trial-count", "4")
    assert missing.exit_code == 1 and "no Katib Experiment step named 'nope'" in missing.output
