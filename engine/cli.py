"""`kubepipe`: run, validate and inspect workflows on the embedded engine.

Exit codes: 0 the run Succeeded (or the command did its job), 1 the run Failed/Errored or the
command failed, 2 invalid input (a file that does not validate, a bad flag).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click
import yaml

from engine.errors import KubepipeError, Problem, RunNotFound, SpecError
from engine.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


class _Context:
    """What every command needs, built lazily from one Settings object."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._metadata: Any = None
        self._slots: Any = None

    @property
    def metadata(self) -> Any:
        if self._metadata is None:
            from engine.metadata.store import MetadataStore

            self._metadata = MetadataStore(self.settings.database_url)
        return self._metadata

    def artifacts(self) -> Any:
        from artifact_store import open_store

        return open_store(self.settings.artifact_location)

    def engine(self) -> Any:
        from engine.executor import Engine
        from engine.runners.local import LocalRunner
        from engine.runners.setup import local_runner_settings

        runner = LocalRunner(local_runner_settings(self.settings))
        return Engine(
            self.metadata,
            self.artifacts(),
            runner,
            work_root=self.settings.work_root,
            poll_interval=self.settings.poll_interval,
            lease_seconds=self.settings.lease_seconds,
            slots=self.slots(),
        )

    def slots(self) -> Any:
        """One running-step limit for every engine this process builds (all worker threads)."""
        if self._slots is None:
            from engine.slots import StepSlots

            self._slots = StepSlots(self.settings.running_step_limit)
        return self._slots


def _fail(message: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _parse_params(values: tuple[str, ...]) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name:
            _fail(f"-p {item!r}: use -p NAME=VALUE", EXIT_INVALID)
        params[name] = value
    return params


def _plugin(group: str, suffix: str) -> Any:
    """A loader/compiler another package registered for files ending in `.suffix` (the DSL: `.py`)."""
    from importlib.metadata import entry_points

    for entry in entry_points(group=group):
        if entry.name == suffix:
            return entry.load()
    return None


def _plugin_commands() -> dict[str, Any]:
    """Entry points of the `kubepipe.commands` group by name (a built-in command wins a clash)."""
    from importlib.metadata import entry_points

    return {entry.name: entry for entry in entry_points(group="kubepipe.commands")}


def _python_spec(path: str) -> bool:
    """`pipeline.py` or `pipeline.py:name` (a YAML file never ends in .py)."""
    return (
        path.partition(":")[0].endswith(".py") if not Path(path).is_file() else path.endswith(".py")
    )


def _load_python(path: str) -> Any:
    """Compile a Python pipeline to its Workflow through the DSL's registered loader."""
    loader = _plugin("kubepipe.loaders", "py")
    if loader is None:
        raise SpecError(
            [
                Problem(
                    "running a .py pipeline needs the kubepipe DSL (package `dsl`), "
                    "which is not installed",
                    hint="pip install kubepipe",
                )
            ],
            path,
        )
    try:
        return loader(path)
    except KubepipeError:
        raise
    except Exception as exc:  # the DSL's own errors name the function, parameter and line
        raise SpecError([Problem(f"{type(exc).__name__}: {exc}")], path) from None


def load_and_validate(path: str, parameters: dict[str, str] | None = None) -> Any:
    """Load a workflow file (or compile a Python pipeline), apply `-p` parameters and validate;
    SpecError lists every problem."""
    from engine.controllers import default_registry
    from engine.executor import apply_parameters
    from engine.loader import as_workflow, load_manifest
    from engine.validate import validate_workflow

    if _python_spec(path):
        manifest, source, positions = _load_python(path), path, {}
    else:
        manifest, source, positions = load_manifest(Path(path))
    workflow = as_workflow(manifest)
    if manifest is not workflow:
        positions = {}
    workflow = apply_parameters(workflow, parameters or {}, source)
    problems = validate_workflow(workflow, positions, known_kinds=set(default_registry().kinds()))
    if problems:
        raise SpecError(problems, source)
    return workflow, source


def _notes(workflow: Any) -> list[str]:
    from engine.spec import not_applied_fields

    return not_applied_fields(workflow.spec)


class _Group(click.Group):
    """Turns failures to reach the metadata database into a message instead of a traceback, and
    adds the commands other packages register under the `kubepipe.commands` entry-point group
    (the scheduler's `recurring` and `scheduler`), loaded only when named, so the engine never
    imports those packages."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_plugin_commands()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in _plugin_commands():
            loaded = _plugin_commands()[cmd_name].load()
            command = loaded if isinstance(loaded, click.Command) else None
        return command

    def invoke(self, ctx: click.Context) -> Any:
        from sqlalchemy.exc import OperationalError

        try:
            return super().invoke(ctx)
        except OperationalError as exc:
            settings = ctx.obj.settings if isinstance(ctx.obj, _Context) else None
            where = settings.database_url if settings else "the metadata database"
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            _fail(
                f"cannot use {where}: {reason} (check KUBEPIPE_DB_URL and that the server is up)",
                EXIT_FAILED,
            )
        except KubepipeError as exc:
            _fail(str(exc), EXIT_FAILED)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def main(click_ctx: click.Context) -> None:
    """kubepipe: Kubeflow-style ML workflows on an Argo-style engine, no cluster needed."""
    from pydantic import ValidationError

    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"KUBEPIPE_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        )
        _fail(f"invalid settings in the environment: {problems}", EXIT_INVALID)
    click_ctx.obj = _Context(settings)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.pass_obj
def validate(ctx: _Context, file: str) -> None:
    """Check FILE without running it: YAML, schema, graph, references."""
    try:
        workflow, source = load_and_validate(file)
    except SpecError as exc:
        click.echo(str(exc), err=True)
        click.echo(f"{len(exc.problems)} problem(s) found; nothing was run", err=True)
        sys.exit(EXIT_INVALID)
    for path in _notes(workflow):
        click.echo(
            f"note: {path} is kept in the manifest but not applied on the local runner", err=True
        )
    click.echo(f"{source}: valid ({len(workflow.spec.templates)} templates)")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "-p", "--parameter", "params", multiple=True, help="NAME=VALUE for spec.arguments.parameters"
)
@click.option(
    "--watch", is_flag=True, help="show the live node tree even when output is not a terminal"
)
@click.option("--detach", is_flag=True, help="queue the run for `kubepipe engine` and print its id")
@click.option(
    "--no-cache", is_flag=True, help="run every step even if an identical step already succeeded"
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["json", "yaml"]),
    default=None,
    help="print the run at the end",
)
@click.pass_obj
def run(
    ctx: _Context,
    file: str,
    params: tuple[str, ...],
    output: str | None,
    watch: bool,
    detach: bool,
    no_cache: bool,
) -> None:
    """Run the workflow in FILE to completion and exit with its outcome."""
    parameters = _parse_params(params)
    try:
        workflow, source = load_and_validate(file, parameters)
        engine = ctx.engine()
        if no_cache:
            from engine.cache import NO_CACHE_ANNOTATION

            workflow.metadata.annotations[NO_CACHE_ANNOTATION] = "true"
        record = engine.submit(workflow, source=source, queue=detach)
    except SpecError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_INVALID)
    except KubepipeError as exc:
        _fail(str(exc), EXIT_FAILED)
    for path in _notes(workflow):
        click.echo(
            f"note: {path} is kept in the manifest but not applied on the local runner", err=True
        )
    if detach:
        engine.runner.close()
        click.echo(json.dumps({"id": record.id}) if output == "json" else record.id)
        return
    execute_in_foreground(ctx, engine, record, output, watch, "started")


def execute_in_foreground(
    ctx: _Context, engine: Any, record: Any, output: str | None, watch: bool, verb: str
) -> None:
    """Drive a run here, showing progress; exit with its outcome (what `run` and `retry` do)."""
    from engine.views import run_json

    progress = _progress(live=(watch or sys.stdout.isatty()) and output is None)
    click.echo(f"run {record.id} ({record.name}) {verb}", err=output is not None)
    _sigterm_as_interrupt()
    try:
        final = engine.execute(record.id, on_change=progress.update)
    except KeyboardInterrupt:
        ctx.metadata.request_stop(record.id, "Stopped by user (interrupt)")
        final = engine.execute(record.id, on_change=progress.update)
    finally:
        progress.close()
        engine.runner.close()
    state = ctx.metadata.load_state(final.id)
    if output == "json":
        click.echo(json.dumps(run_json(state), indent=2))
    elif output == "yaml":
        click.echo(yaml.safe_dump(run_json(state), sort_keys=False))
    else:
        line = f"run {final.id} ({final.name}) {final.phase.value}"
        if final.message:
            line += f": {final.message}"
        click.echo(line)
    sys.exit(EXIT_OK if final.phase.value == "Succeeded" else EXIT_FAILED)


@main.command()
@click.argument("run_ref", metavar="RUN")
@click.option(
    "--watch", is_flag=True, help="show the live node tree even when output is not a terminal"
)
@click.option("--detach", is_flag=True, help="queue the retry for `kubepipe engine` workers")
@click.option("-o", "--output", type=click.Choice(["json", "yaml"]), default=None)
@click.pass_obj
def retry(ctx: _Context, run_ref: str, watch: bool, detach: bool, output: str | None) -> None:
    """Run the failed steps of a finished run again, keeping what succeeded (argo retry)."""
    from engine.retry import retry_run

    try:
        record = retry_run(ctx.metadata, ctx.artifacts(), ctx.settings.work_root, run_ref)
    except KubepipeError as exc:
        _fail(str(exc), EXIT_FAILED)
    if detach:
        click.echo(json.dumps({"id": record.id}) if output == "json" else record.id)
        return
    execute_in_foreground(ctx, ctx.engine(), record, output, watch, "retried")


def _sigterm_as_interrupt() -> None:
    """`kill` of a foreground `kubepipe run` stops the run cleanly, like Ctrl-C."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


class _Progress:
    """Plain lines when output is a pipe, a live tree on a terminal."""

    def __init__(self, live: bool) -> None:
        self._seen: dict[str, str] = {}
        self._live = None
        if live:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(console=Console(stderr=False), refresh_per_second=8, transient=False)
            self._live.start()

    def update(self, state: Any) -> None:
        from engine.views import tree_lines

        if self._live is not None:
            from rich.text import Text

            self._live.update(Text("\n".join(tree_lines(state, time.time()))))
            return
        for node in state.nodes.values():
            phase = node.phase.value
            if self._seen.get(node.id) != phase and node.type.value in (
                "Pod",
                "Suspend",
                "Skipped",
            ):
                self._seen[node.id] = phase
                if phase == "Pending":
                    continue
                line = f"{node.display_name}: {phase}"
                if node.message and phase != "Running":
                    line += f" ({node.message})"
                click.echo(line, err=True)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()


def _progress(live: bool) -> _Progress:
    return _Progress(live)


@main.command()
@click.argument("pipeline", metavar="PIPELINE.py[:NAME]")
@click.option(
    "-o", "--output", "output", default=None, help="write the YAML here (default: stdout)"
)
@click.pass_obj
def compile(ctx: _Context, pipeline: str, output: str | None) -> None:  # noqa: A001 - the command's name
    """Compile a Python pipeline to Argo Workflow YAML."""
    compiler = _plugin("kubepipe.compilers", "py")
    if compiler is None:
        _fail(
            "compiling needs the kubepipe DSL (package `dsl`), which is not installed", EXIT_FAILED
        )
    try:
        text = compiler(pipeline, output)
    except Exception as exc:
        _fail(f"{pipeline}: {type(exc).__name__}: {exc}", EXIT_INVALID)
    if output is None:
        click.echo(text, nl=False)
    else:
        click.echo(f"wrote {output}", err=True)


MAX_RUNNING_STEPS_HELP = (
    "steps running at once across all runs of this process "
    "(default: KUBEPIPE_MAX_RUNNING_STEPS, else derived from the open-file limit and CPUs)"
)


@main.command(name="engine")
@click.option("--concurrency", default=2, show_default=True, help="runs executed at once")
@click.option(
    "--until-idle", is_flag=True, help="exit once no queued run is left (for scripts and tests)"
)
@click.option(
    "--max-running-steps", type=click.IntRange(min=1), default=None, help=MAX_RUNNING_STEPS_HELP
)
@click.pass_obj
def engine_worker(
    ctx: _Context, concurrency: int, until_idle: bool, max_running_steps: int | None
) -> None:
    """Execute queued runs (`run --detach`) and adopt runs whose engine died, until interrupted."""
    from engine.worker import Worker, WorkerLocked, lock_sqlite_queue, run_forever, sqlite_path

    if max_running_steps is not None:
        ctx.settings = ctx.settings.model_copy(update={"max_running_steps": max_running_steps})

    db = sqlite_path(ctx.settings.database_url)
    try:
        lock = lock_sqlite_queue(db) if db is not None else None
    except WorkerLocked as exc:
        _fail(str(exc), EXIT_INVALID)
    worker = Worker(
        ctx.engine,
        concurrency=concurrency,
        poll_interval=ctx.settings.poll_interval,
        log=lambda line: click.echo(line, err=True),
        retention=_retention(ctx),
    )
    click.echo(
        f"kubepipe engine (pid {os.getpid()}) working on {ctx.settings.database_url}, "
        f"at most {ctx.slots().limit} steps running at once",
        err=True,
    )
    try:
        run_forever(worker, until_idle=until_idle)
    finally:
        if lock is not None:
            lock.close()


@main.command()
@click.argument("run_refs", metavar="RUN...", nargs=-1)
@click.option(
    "--keep-last", type=int, default=None, help="delete finished runs beyond the newest N"
)
@click.option(
    "--older-than", default=None, help="delete runs finished longer ago than this (e.g. 7d, 12h)"
)
@click.pass_obj
def delete(
    ctx: _Context, run_refs: tuple[str, ...], keep_last: int | None, older_than: str | None
) -> None:
    """Delete finished runs with their nodes, logs and artifacts (artifacts other runs reuse are kept)."""
    from engine.retention import delete_run, expired_runs
    from engine.values import parse_duration

    if not run_refs and keep_last is None and older_than is None:
        _fail("name runs to delete, or give --keep-last / --older-than", EXIT_INVALID)
    try:
        age = parse_duration(older_than, field="--older-than")
    except ValueError as exc:
        _fail(str(exc), EXIT_INVALID)
    targets = list(run_refs) + expired_runs(ctx.metadata, keep_last=keep_last, older_than=age)
    store = ctx.artifacts()
    failed = False
    for ref in dict.fromkeys(targets):
        try:
            done = delete_run(ctx.metadata, store, ref)
        except KubepipeError as exc:
            click.echo(f"error: {exc}", err=True)
            failed = True
            continue
        kept = f", kept {done.objects_kept} reused by other runs" if done.objects_kept else ""
        click.echo(
            f"deleted run {done.run_id} ({done.objects_removed} stored objects removed{kept})"
        )
    sys.exit(EXIT_FAILED if failed else EXIT_OK)


def _retention(ctx: _Context) -> Any:
    """The worker's periodic clean-up, when KUBEPIPE_RETENTION_* settings ask for one."""
    settings = ctx.settings
    if settings.retention_keep_last is None and settings.retention_older_than is None:
        return None
    from engine.retention import delete_run, expired_runs
    from engine.values import parse_duration

    age = parse_duration(settings.retention_older_than, field="KUBEPIPE_RETENTION_OLDER_THAN")

    def apply() -> None:
        store = ctx.artifacts()
        for run_id in expired_runs(
            ctx.metadata, keep_last=settings.retention_keep_last, older_than=age
        ):
            delete_run(ctx.metadata, store, run_id)

    return apply


@main.command(name="list")
@click.option("-o", "--output", type=click.Choice(["json"]), default=None)
@click.pass_obj
def list_runs(ctx: _Context, output: str | None) -> None:
    """List runs, newest first."""
    from engine.views import iso

    runs = ctx.metadata.list_runs()
    if output == "json":
        click.echo(
            json.dumps(
                [
                    {
                        "id": r.id,
                        "name": r.name,
                        "phase": r.phase.value,
                        "startedAt": iso(r.started_at),
                        "finishedAt": iso(r.finished_at),
                        "message": r.message,
                    }
                    for r in runs
                ],
                indent=2,
            )
        )
        return
    click.echo(f"{'ID':<14}{'NAME':<32}{'PHASE':<11}{'STARTED':<22}MESSAGE")
    for r in runs:
        click.echo(
            f"{r.id:<14}{r.name[:31]:<32}{r.phase.value:<11}{iso(r.started_at) or '':<22}{r.message}"
        )


def _state(ctx: _Context, ref: str) -> Any:
    try:
        return ctx.metadata.load_state(ref)
    except RunNotFound as exc:
        _fail(str(exc), EXIT_FAILED)


@main.command()
@click.argument("run_ref", metavar="RUN")
@click.option("-o", "--output", type=click.Choice(["json", "yaml", "wide"]), default=None)
@click.pass_obj
def get(ctx: _Context, run_ref: str, output: str | None) -> None:
    """Show a run: its phase, outputs and node tree."""
    from engine.views import run_json, tree_lines

    state = _state(ctx, run_ref)
    if output == "json":
        click.echo(json.dumps(run_json(state), indent=2))
        return
    if output == "yaml":
        click.echo(yaml.safe_dump(run_json(state), sort_keys=False))
        return
    run = state.run
    click.echo(f"Name:     {run.name}\nID:       {run.id}\nPhase:    {run.phase.value}")
    if run.message:
        click.echo(f"Message:  {run.message}")
    if run.parameters:
        click.echo("Parameters:")
        for k, v in run.parameters.items():
            click.echo(f"  {k}: {v}")
    click.echo("")
    for line in tree_lines(state, time.time()):
        click.echo(line)


def _find_node(state: Any, ref: str) -> Any:
    for node in state.nodes.values():
        if node.id == ref or node.name == ref:
            return node
    matches = [n for n in state.nodes.values() if n.display_name == ref]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        _fail(
            f"{ref!r} names {len(matches)} nodes; use a node id: "
            + ", ".join(n.id for n in matches),
            EXIT_FAILED,
        )
    _fail(
        f"run {state.run.name} has no node {ref!r} (see `kubepipe get {state.run.id}`)", EXIT_FAILED
    )


@main.command()
@click.argument("run_ref", metavar="RUN")
@click.argument("node_ref", metavar="NODE", required=False)
@click.option("-f", "--follow", is_flag=True, help="keep printing until the run ends")
@click.pass_obj
def logs(ctx: _Context, run_ref: str, node_ref: str | None, follow: bool) -> None:
    """Print the logs of a run's steps (or of one NODE: id or display name)."""
    store = ctx.artifacts()
    printed: set[str] = set()
    while True:
        state = _state(ctx, run_ref)
        only = _find_node(state, node_ref).id if node_ref else None
        records = ctx.metadata.logs(state.run.id, only)
        for rec in records:
            if rec.uri in printed:
                continue
            printed.add(rec.uri)
            node = state.nodes.get(rec.node_id)
            label = node.display_name if node else rec.node_id
            with store.open(store.key_from_uri(rec.uri)) as handle:
                for raw in handle:
                    text = raw.decode("utf-8", errors="replace").rstrip("\n")
                    click.echo(text if only else f"{label}: {text}")
        if not follow or state.run.phase.is_finished:
            return
        time.sleep(0.5)


@main.command()
@click.argument("run_ref", metavar="RUN")
@click.option(
    "--node", "node_ref", default=None, help="resume only this suspended node (id or display name)"
)
@click.option(
    "--output-parameter",
    "outputs",
    multiple=True,
    help="NAME=VALUE for a suspend template's `valueFrom.supplied` output",
)
@click.pass_obj
def resume(ctx: _Context, run_ref: str, node_ref: str | None, outputs: tuple[str, ...]) -> None:
    """Resume a run's suspended steps (`argo resume`; `--output-parameter` as `argo node set`)."""
    state = _state(ctx, run_ref)
    if state.run.phase.is_finished:
        _fail(f"run {state.run.id} already {state.run.phase.value}; nothing to resume", EXIT_FAILED)
    waiting = [
        n for n in state.nodes.values() if n.type.value == "Suspend" and not n.phase.is_fulfilled
    ]
    if node_ref is not None:
        waiting = [n for n in waiting if node_ref in (n.id, n.name, n.display_name)]
    if not waiting:
        what = f"no suspended node {node_ref!r}" if node_ref else "no suspended node"
        _fail(f"run {state.run.id} has {what} (see `kubepipe get {state.run.id}`)", EXIT_FAILED)
    values = _parse_params(outputs)
    ctx.metadata.request_resume(state.run.id, node_ref, values)
    click.echo(f"resumed {', '.join(n.display_name for n in waiting)} in run {state.run.id}")


@main.command()
@click.argument("run_ref", metavar="RUN")
@click.option(
    "--wait", "wait_seconds", default=10.0, show_default=True, help="seconds to wait for the engine"
)
@click.pass_obj
def stop(ctx: _Context, run_ref: str, wait_seconds: float) -> None:
    """Stop a run: running steps are killed and marked Failed; exit handlers still run."""
    from engine.executor import stop_without_engine

    state = _state(ctx, run_ref)
    run = state.run
    if run.phase.is_finished:
        click.echo(f"run {run.id} already {run.phase.value}")
        return
    reason = "Stopped by user"
    ctx.metadata.request_stop(run.id, reason)
    deadline = time.time() + wait_seconds
    while time.time() < deadline:
        if ctx.metadata.resolve_run(run.id).phase.is_finished:
            click.echo(f"run {run.id} stopped")
            return
        time.sleep(0.2)

    def kill(handle: dict[str, Any]) -> None:
        pid = int(handle.get("pid") or 0)
        if pid > 0:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    stop_without_engine(ctx.metadata, kill, run.id, reason + " (no engine was executing it)")
    click.echo(f"run {run.id} stopped")
