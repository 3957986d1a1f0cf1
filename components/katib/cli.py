"""`kubepipe katib ...`, registered through the `kubepipe.commands` entry-point group."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from components.katib.resume import check_resumable, experiment_nodes, reopen_experiment
from engine.errors import KubepipeError
from engine.state import NodeRecord, RunState

__all__ = ["katib_group", "pick_experiment"]


@click.group(name="katib")
def katib_group() -> None:
    """Katib experiments run by the local controller."""


def pick_experiment(state: RunState, step: str | None) -> NodeRecord:
    """The run's Experiment step named by `step` (node id, name, display or template name);
    without `step`, the only one. Raises listing the candidates when that is ambiguous."""
    found = experiment_nodes(state)
    if step is not None:
        found = [n for n in found if step in (n.id, n.name, n.display_name, n.template_name)]
    names = ", ".join(n.display_name for n in experiment_nodes(state)) or "none"
    if not found:
        raise KubepipeError(
            f"run {state.run.name} has no Katib Experiment step"
            + (f" named {step!r}" if step else "")
            + f" (its experiment steps: {names})"
        )
    if len(found) > 1:
        raise KubepipeError(
            f"run {state.run.name} has {len(found)} Experiment steps ({names}); choose one "
            "with --step NODE"
        )
    return found[0]


@katib_group.command()
@click.argument("run_ref", metavar="RUN")
@click.option("--step", default=None, help="the Experiment step (needed when a run has several)")
@click.option(
    "--max-trial-count", type=click.IntRange(min=1), required=True, help="the new trial budget"
)
@click.option("-w", "--watch", is_flag=True, help="live progress tree")
@click.option("--detach", is_flag=True, help="queue the resumed run for `kubepipe engine` workers")
@click.option("-o", "--output", type=click.Choice(["json", "yaml"]), default=None)
@click.pass_obj
def resume(
    ctx: Any,
    run_ref: str,
    step: str | None,
    max_trial_count: int,
    watch: bool,
    detach: bool,
    output: str | None,
) -> None:
    """Resume a finished experiment (ended MaxTrialsReached) up to --max-trial-count trials.

    The run is re-queued in place: the experiment keeps its trials and suggestion state, steps
    that ran after it run again with its new result, and the rest of the run is kept.
    """
    from engine.cli import execute_in_foreground
    from engine.retry import reopen_step

    try:
        ref = ctx.metadata.resolve_run(run_ref)
        node = pick_experiment(ctx.metadata.load_state(ref.id), step)
        check_resumable(node, max_trial_count)  # before anything is written
        record = reopen_step(
            ctx.metadata,
            ctx.artifacts(),
            ctx.settings.work_root,
            ref.id,
            node.id,
            lambda state, n: reopen_experiment(state, n, max_trial_count, time.time()),
        )
    except KubepipeError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None
    if detach:
        click.echo(json.dumps({"id": record.id}) if output == "json" else record.id)
        return
    execute_in_foreground(ctx, ctx.engine(), record, output, watch, "resumed")
