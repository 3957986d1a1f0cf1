"""What `kubepipe katib resume` refuses, checked on real finished experiments."""

from __future__ import annotations

from pathlib import Path

import pytest
from katib_support import experiment, experiment_node, run, workflow_file

from components.katib.errors import ExperimentSpecError
from components.katib.resume import check_resumable
from engine.errors import KubepipeError
from engine.executor import Engine


def test_only_max_trials_reached_resumes_and_the_new_budget_is_checked(
    engine: Engine, tmp_path: Path
) -> None:
    policy = {"resumePolicy": "LongRunning"}
    goal = experiment(max_trials=2, parallel=1, goal=1e9, extra_spec=policy, name="goal")
    node = experiment_node(run(engine, workflow_file(tmp_path, goal)))
    with pytest.raises(KubepipeError, match="ended with reason ExperimentGoalReached"):
        check_resumable(node, 5)

    grid = experiment(
        "grid",
        max_trials=2,
        parallel=1,
        parameters=[
            {"name": "x", "parameterType": "discrete", "feasibleSpace": {"list": ["1", "2", "3"]}},
            {"name": "y", "parameterType": "discrete", "feasibleSpace": {"list": ["0"]}},
        ],
        extra_spec=policy,
        name="grid",
    )
    node = experiment_node(run(engine, workflow_file(tmp_path, grid)))
    assert check_resumable(node, 3).spec.max_trial_count == 3
    with pytest.raises(ExperimentSpecError, match="grid has 3 combinations but maxTrialCount is 4"):
        check_resumable(node, 4)
    with pytest.raises(ExperimentSpecError, match="spec.maxTrialCount: --max-trial-count 2"):
        check_resumable(node, 2)
