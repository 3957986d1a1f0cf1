"""`kubepipe recurring ...` and `kubepipe scheduler`, registered through the `kubepipe.commands`
entry-point group (the engine's CLI never imports this package).

Exit codes as the rest of kubepipe: 0 done, 1 failed (e.g. no such recurring run), 2 invalid
input (a bad cron expression, zone, window or file), and with exit 2 nothing is stored.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from scheduler.errors import InvalidSchedule, SchedulerError

EXIT_FAILED, EXIT_INVALID = 1, 2
_Command = TypeVar("_Command", bound=Callable[..., Any])

# The flag (or argument) a person used for each field an `InvalidSchedule` names.
_FLAGS = {
    "cron": "--cron",
    "interval": "--every",
    "timezone": "--tz",
    "start_time": "--start",
    "end_time": "--end",
    "max_concurrency": "--max-concurrency",
    "concurrency_policy": "--concurrency-policy",
    "starting_deadline_seconds": "--starting-deadline",
    "trigger": "--cron/--every",
    "name": "NAME",
    "file": "FILE",
    "namespace": "--namespace",
}

# Names are unique per namespace; a command that takes a NAME looks in this one unless told.
_NAMESPACE_HELP = "the recurring run's namespace (default: default)"


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _invalid(exc: InvalidSchedule) -> NoReturn:
    flag = _FLAGS.get(exc.field, exc.field)
    fix = f" (fix: {exc.fix})" if exc.fix else ""
    _fail(f"{flag}: {exc.problem}{fix}; nothing was stored", EXIT_INVALID)


def _settings() -> Any:
    obj = click.get_current_context().find_root().obj
    settings = getattr(obj, "settings", None)
    if settings is None:
        from engine.settings import Settings

        settings = Settings()
    return settings


def _store() -> Any:
    from scheduler.store import RecurringStore

    return RecurringStore(_settings().database_url)


def _get(store: Any, ref: str, namespace: str) -> Any:
    try:
        return store.lookup(ref, namespace)
    except SchedulerError as exc:
        _fail(str(exc), EXIT_FAILED)


def _namespace_option(default: str | None, help_text: str) -> Callable[[_Command], _Command]:
    return click.option("--namespace", "namespace", default=default, help=help_text)


@click.group()
def recurring() -> None:
    """Recurring runs: create a pipeline schedule (cron or periodic) and manage it."""


@recurring.command()
@click.argument("name")
@click.argument("file", metavar="FILE")
@click.option("--cron", default=None, help="cron expression: 5 fields, or 6 with seconds first")
@click.option("--every", default=None, help="periodic interval: seconds or e.g. 1h30m, 15m, 1d")
@click.option("--tz", default=None, help="IANA time zone for cron fields and times (default UTC)")
@click.option("--start", default=None, help="ISO-8601 time of the first possible fire")
@click.option("--end", default=None, help="ISO-8601 time after which it never fires")
@click.option("--max-concurrency", type=int, default=None, help="at most N runs going at once")
@click.option(
    "--concurrency-policy",
    type=click.Choice(["Allow", "Forbid", "Replace"]),
    default=None,
    help="while a run is still going: start another (Allow), skip (Forbid), stop it (Replace)",
)
@click.option(
    "--catchup/--no-catchup",
    default=None,
    help="after downtime run every missed time (default), or only the latest",
)
@click.option(
    "--starting-deadline",
    type=int,
    default=None,
    help="seconds: a due time older than this is not started",
)
@click.option("--disabled", is_flag=True, help="store it disabled (check `next`, then `enable`)")
@click.option("-p", "--parameter", "params", multiple=True, help="NAME=VALUE for each run")
@_namespace_option(
    None, "namespace for it and its runs (default: the file's metadata.namespace, else default)"
)
@click.option("-o", "--output", type=click.Choice(["json"]), default=None)
def create(
    name: str,
    file: str,
    cron: str | None,
    every: str | None,
    tz: str | None,
    start: str | None,
    end: str | None,
    max_concurrency: int | None,
    concurrency_policy: str | None,
    catchup: bool | None,
    starting_deadline: int | None,
    disabled: bool,
    params: tuple[str, ...],
    namespace: str | None,
    output: str | None,
) -> None:
    """Create recurring run NAME from FILE (a Workflow or CronWorkflow YAML, or a .py pipeline)."""
    from engine.errors import SpecError
    from scheduler.definitions import Options, initial_cursor, load_definition
    from scheduler.views import recurring_json

    parameters: dict[str, str] = {}
    for item in params:
        key, sep, value = item.partition("=")
        if not sep or not key:
            _fail(f"-p {item!r}: use -p NAME=VALUE; nothing was stored", EXIT_INVALID)
        parameters[key] = value
    options = Options(
        cron=cron,
        every=every,
        timezone=tz,
        start=start,
        end=end,
        max_concurrency=max_concurrency,
        concurrency_policy=concurrency_policy,
        catchup=catchup,
        starting_deadline_seconds=starting_deadline,
        parameters=parameters,
        namespace=namespace,
    )
    try:
        definition = load_definition(name, file, options)
    except InvalidSchedule as exc:
        _invalid(exc)
    except SpecError as exc:
        click.echo(str(exc), err=True)
        _fail(f"{file} does not validate; nothing was stored", EXIT_INVALID)
    for note in definition.notes:
        click.echo(f"note: {note}", err=True)
    store = _store()
    now = time.time()
    try:
        rec = store.create(
            definition.spec,
            enabled=definition.enabled and not disabled,
            now=now,
            cursor=initial_cursor(definition.spec, now),
        )
    except SchedulerError as exc:
        _fail(str(exc), EXIT_FAILED)
    if output == "json":
        click.echo(json.dumps(recurring_json(rec), indent=2))
        return
    state = "enabled" if rec.enabled else "disabled"
    click.echo(
        f"recurring run {rec.name} ({rec.id}) created in namespace {rec.namespace}, {state}: "
        f"{rec.spec.trigger.describe()}"
    )


@recurring.command(name="list")
@_namespace_option(None, "only this namespace's recurring runs (default: every namespace)")
@click.option("-o", "--output", type=click.Choice(["json"]), default=None)
def list_recurring(namespace: str | None, output: str | None) -> None:
    """List recurring runs."""
    from scheduler.views import recurring_json

    rows = [recurring_json(r) for r in _store().list_all(namespace)]
    if output == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'NAMESPACE':<16}{'NAME':<28}{'ENABLED':<9}{'NEXT':<27}SCHEDULE")
    for r in rows:
        enabled = "yes" if r["enabled"] else "no"
        click.echo(
            f"{r['namespace'][:15]:<16}{r['name'][:27]:<28}{enabled:<9}"
            f"{r['nextFireTime'] or '-':<27}{r['schedule']}"
        )


@recurring.command()
@click.argument("ref", metavar="NAME")
@_namespace_option("default", _NAMESPACE_HELP)
@click.option("-o", "--output", type=click.Choice(["json"]), default=None)
def get(ref: str, namespace: str, output: str | None) -> None:
    """Show a recurring run and the runs it created."""
    from scheduler.views import recurring_json, recurring_lines

    store = _store()
    rec = _get(store, ref, namespace)
    fires = store.fires(rec.id)
    if output == "json":
        click.echo(json.dumps(recurring_json(rec, fires), indent=2))
        return
    for line in recurring_lines(rec, fires):
        click.echo(line)


def _set_enabled(ref: str, namespace: str, enabled: bool) -> None:
    store = _store()
    try:
        rec = store.set_enabled(_get(store, ref, namespace).id, enabled, time.time())
    except SchedulerError as exc:
        _fail(str(exc), EXIT_FAILED)
    click.echo(f"recurring run {rec.name} {'enabled' if enabled else 'disabled'}")


@recurring.command()
@click.argument("ref", metavar="NAME")
@_namespace_option("default", _NAMESPACE_HELP)
def enable(ref: str, namespace: str) -> None:
    """Enable NAME; times that passed while it was disabled are not run."""
    _set_enabled(ref, namespace, True)


@recurring.command()
@click.argument("ref", metavar="NAME")
@_namespace_option("default", _NAMESPACE_HELP)
def disable(ref: str, namespace: str) -> None:
    """Disable NAME (runs already started keep going)."""
    _set_enabled(ref, namespace, False)


@recurring.command()
@click.argument("ref", metavar="NAME")
@_namespace_option("default", _NAMESPACE_HELP)
def delete(ref: str, namespace: str) -> None:
    """Delete NAME; the runs it created are kept."""
    store = _store()
    try:
        rec = store.delete(_get(store, ref, namespace).id)
    except SchedulerError as exc:
        _fail(str(exc), EXIT_FAILED)
    click.echo(f"recurring run {rec.name} deleted")


@recurring.command(name="next")
@click.argument("ref", metavar="NAME")
@click.option("-n", "count", type=int, default=5, show_default=True, help="how many fire times")
@_namespace_option("default", _NAMESPACE_HELP)
def next_times(ref: str, count: int, namespace: str) -> None:
    """Print NAME's next fire times, one ISO-8601 timestamp (with UTC offset) per line, in its
    time zone; works on a disabled recurring run, to check an expression before enabling it."""
    from scheduler.views import local_iso

    rec = _get(_store(), ref, namespace)
    trigger = rec.spec.trigger
    t: int | None = max(int(time.time()), rec.cursor)
    for _ in range(max(0, count)):
        t = trigger.next_after(t) if t is not None else None
        if t is None:
            click.echo("(no more fire times: the end time has passed)", err=True)
            return
        click.echo(local_iso(t, trigger.zone))


@click.command(name="scheduler")
@click.option("--once", is_flag=True, help="decide what is due now, then exit")
def scheduler_command(once: bool) -> None:
    """Run the scheduler loop: start the runs of recurring runs when they are due.

    Runs are queued for `kubepipe engine` workers. Several schedulers may share a PostgreSQL
    database; each time still fires exactly once.
    """
    import os

    from engine.metadata.store import MetadataStore
    from engine.retention import delete_run
    from scheduler.clock import SystemClock
    from scheduler.service import Scheduler
    from scheduler.settings import SchedulerSettings

    settings = _settings()
    metadata = MetadataStore(settings.database_url)
    stop = threading.Event()

    def delete(run_id: str) -> None:
        from artifact_store import open_store

        delete_run(metadata, open_store(settings.artifact_location), run_id)

    service = Scheduler(
        _store(),
        metadata,
        clock=SystemClock(stop),
        settings=SchedulerSettings(),
        log=lambda line: click.echo(line, err=True),
        on_fire=lambda rec, t, run_id, _: click.echo(
            f"recurring run {rec.name}: started run {run_id} for {t}", err=True
        ),
        delete_run=delete,
    )
    if once:
        service.run_once(time.time())
        return

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    click.echo(
        f"kubepipe scheduler (pid {os.getpid()}) working on {settings.database_url}", err=True
    )
    service.run(stop=stop)
