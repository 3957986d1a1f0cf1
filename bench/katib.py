"""Katib benchmark: algorithm quality on Branin, and the engine's overhead per trial.

Prints figures; asserts nothing. Quality: for each of tpe, bayesianoptimization, cmaes and
random, `--trials` suggestions on Branin (the suggest() loop in-process, `--parallel` at a time,
as the controller asks) for `--seeds` seeds; the median best objective, its regret (best minus
Branin's minimum 0.397887) and that regret as a ratio of random's. Target (issue 7): tpe and
bayesianoptimization median regret <= 50% of random's. Overhead: an Experiment of `--engine-trials`
trivial trials run through the real engine, one at a time; (wall time - the trial processes' own
time, each pod's launch to its collection) / trials. Target: <= 20 ms.

    python bench/katib.py [--trials 40] [--seeds 10] [--parallel 1] [--engine-trials 20]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# The Experiment the Katib end-to-end tests build, shared with them.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))

from katib_e2e_support import create_step, experiment, workflow
from katib_e2e_support import trials as trial_nodes

BRANIN_MIN = 0.397887
ALGORITHMS = ["random", "tpe", "bayesianoptimization", "cmaes"]


def branin(x: float, y: float) -> float:
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (y - b * x * x + c * x - 6) ** 2 + 10 * (1 - t) * math.cos(x) + 10


def manifest(algorithm: str, seed: int, trials: int, parallel: int, code: str) -> dict[str, Any]:
    settings = {} if algorithm == "sobol" else {"random_state": str(seed)}
    return experiment(
        f"bench-{algorithm}",
        algorithm,
        code,
        max_trials=trials,
        parallel=parallel,
        settings=settings,
        space={"x": ("-5", "10"), "y": ("0", "15")},
    )


def best_of(algorithm: str, seed: int, trials: int, parallel: int) -> float:
    from components.katib.conditions import TrialCondition
    from components.katib.spec import parse_experiment
    from components.katib.suggest import TrialView, suggest

    spec = parse_experiment(manifest(algorithm, seed, trials, parallel, "")).spec
    views: list[TrialView] = []
    state: dict[str, Any] = {"seed": seed}
    while len(views) < trials:
        reply = suggest(spec, views, min(parallel, trials - len(views)), state)
        state = json.loads(json.dumps(reply.state))
        for a in reply.assignments:
            value = branin(float(a.parameters["x"]), float(a.parameters["y"]))
            views.append(
                TrialView(f"t{len(views)}", a.parameters, a.labels, TrialCondition.SUCCEEDED, value)
            )
    return min(v.objective or math.inf for v in views)


def quality(trials: int, seeds: int, parallel: int) -> None:
    print(f"Branin, {trials} trials, {seeds} seeds, {parallel} at a time (minimum {BRANIN_MIN})")
    regrets: dict[str, float] = {}
    for algorithm in ALGORITHMS:
        started = time.perf_counter()
        bests = [best_of(algorithm, seed, trials, parallel) for seed in range(seeds)]
        median = statistics.median(bests)
        regrets[algorithm] = median - BRANIN_MIN
        print(
            f"  {algorithm:22s} median best {median:9.4f}  regret {regrets[algorithm]:8.4f}  "
            f"({time.perf_counter() - started:5.1f} s)"
        )
    for algorithm in ALGORITHMS[1:]:
        ratio = regrets[algorithm] / regrets["random"] if regrets["random"] else math.inf
        print(f"  regret ratio {algorithm:22s} / random = {ratio:6.1%}")


def overhead(trials: int) -> None:
    from artifact_store import open_store
    from engine.cli import load_and_validate
    from engine.executor import Engine
    from engine.metadata.store import MetadataStore
    from engine.runners.local import LocalRunner, LocalRunnerSettings
    from engine.settings import Settings

    code = "import sys; print('loss=' + str(float(sys.argv[1]) ** 2))"
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp) / "home")
        runner = LocalRunner(LocalRunnerSettings(isolation=settings.isolation))
        engine = Engine(
            MetadataStore(settings.database_url),
            open_store(settings.artifact_location),
            runner,
            work_root=settings.work_root,
            poll_interval=0.01,
        )
        path = Path(tmp) / "wf.yaml"
        path.write_text(
            workflow("bench-katib-", create_step(manifest("random", 1, trials, 1, code)))
        )
        try:
            parsed, source = load_and_validate(str(path))
            record = engine.submit(parsed, source=source)
            started = time.perf_counter()
            engine.execute(record.id)
            wall = time.perf_counter() - started
            state = engine.metadata.load_state(record.id)
        finally:
            runner.close()
    trial_ids = {t.id for t in trial_nodes(state)}
    pods = [n for n in state.nodes.values() if n.type.value == "Pod" and n.parent_id in trial_ids]
    own = sum((n.finished_at or 0) - (n.started_at or 0) for n in pods)
    print(
        f"Engine overhead: {len(pods)} trials one at a time in {wall:.2f} s; trial processes "
        f"{own:.2f} s; overhead {1000 * (wall - own) / max(len(pods), 1):.1f} ms per trial "
        f"(run {state.run.phase.value})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--engine-trials", type=int, default=20)
    args = parser.parse_args()
    quality(args.trials, args.seeds, args.parallel)
    overhead(args.engine_trials)


if __name__ == "__main__":
    main()
