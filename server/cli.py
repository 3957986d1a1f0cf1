"""`kubepipe server`, `kubepipe token ...` and `kubepipe up`, registered through the
`kubepipe.commands` entry-point group (the engine's CLI never imports this package).

Exit codes as the rest of kubepipe: 0 done, 1 failed, 2 invalid input (e.g. a public bind
address without auth and without `--insecure`).
"""

from __future__ import annotations

import ipaddress
import sys
import threading
from collections.abc import Callable
from typing import Any, NoReturn

import click

from server.schemas import Role

EXIT_FAILED, EXIT_INVALID = 1, 2


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _engine_settings() -> Any:
    obj = click.get_current_context().find_root().obj
    settings = getattr(obj, "settings", None)
    if settings is None:
        from engine.settings import Settings

        settings = Settings()
    return settings


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, auth: bool, insecure: bool) -> None:
    """Anyone who can reach a public address could run anything: refuse that without auth."""
    if not auth and not insecure and not is_loopback(host):
        _fail(
            f"refusing to serve {host} without auth: anyone who reaches it could run pipelines. "
            "Use --auth (with tokens from `kubepipe token create`), bind 127.0.0.1, or pass "
            "--insecure if this network is trusted",
            EXIT_INVALID,
        )


def _server_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option("--host", default="127.0.0.1", show_default=True, help="bind address"),
            click.option("--port", default=8080, show_default=True, type=int),
            click.option("--auth", is_flag=True, help="require bearer tokens (kubepipe token)"),
            click.option(
                "--insecure", is_flag=True, help="allow a non-loopback address without --auth"
            ),
        ]
    ):
        command = option(command)
    return command


def _serve(host: str, port: int, auth: bool, on_started: Callable[[], None] | None) -> None:
    import uvicorn

    from server.app import create_app
    from server.settings import ServerSettings

    settings = ServerSettings(engine=_engine_settings(), auth=auth)
    app = create_app(settings)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning")
    server = uvicorn.Server(config)
    shown = f"[{host}]" if ":" in host else host
    click.echo(
        f"kubepipe dashboard and API at http://{shown}:{port}/ (auth {'on' if auth else 'off'})"
    )
    if on_started is not None:
        on_started()
    server.run()


@click.command(name="server")
@_server_options
def server_command(host: str, port: int, auth: bool, insecure: bool) -> None:
    """Serve the REST API and the dashboard (runs are executed by `kubepipe engine` workers)."""
    check_bind(host, auth, insecure)
    _serve(host, port, auth, None)


@click.command(name="up")
@_server_options
@click.option("--concurrency", default=2, show_default=True, help="runs executed at once")
@click.option(
    "--allow-root-steps",
    is_flag=True,
    help="with --auth: let a securityContext ask for root (runAsUser: 0, privileged)",
)
@click.option(
    "--allow-host-path",
    "host_paths",
    multiple=True,
    metavar="PATH",
    help="with --auth: a host directory hostPath volumes may bind (repeatable)",
)
@click.option(
    "--max-running-steps",
    type=click.IntRange(min=1),
    default=None,
    help="steps running at once across all runs (default: KUBEPIPE_MAX_RUNNING_STEPS, else "
    "derived from the open-file limit and CPUs)",
)
def up_command(
    host: str,
    port: int,
    auth: bool,
    insecure: bool,
    concurrency: int,
    allow_root_steps: bool,
    host_paths: tuple[str, ...],
    max_running_steps: int | None,
) -> None:
    """Everything an embedded user needs in one process: API, dashboard, an engine worker and
    the scheduler; stops them all on Ctrl-C.

    With --auth the server hosts several namespaces, so steps get no root and no host paths
    unless the flags above grant them (KUBEPIPE_ALLOW_ROOT_STEPS / KUBEPIPE_ALLOWED_HOST_PATHS
    do the same for separate `kubepipe engine` workers).
    """
    check_bind(host, auth, insecure)
    settings = _engine_settings()
    if allow_root_steps:
        settings.allow_root_steps = True
    if host_paths:
        settings.allowed_host_paths = [*(settings.allowed_host_paths or []), *host_paths]
    if auth:
        from engine.runners.setup import isolation_warning, local_runner_settings

        warning = isolation_warning(local_runner_settings(settings, shared=True))
        if warning:
            click.echo(f"warning: {warning}", err=True)
    stop = threading.Event()
    if max_running_steps is not None:
        settings = settings.model_copy(update={"max_running_steps": max_running_steps})
    background = _background(concurrency, stop, settings, shared=auth)

    def start() -> None:
        for thread in background:
            thread.start()

    try:
        _serve(host, port, auth, start)
    finally:
        stop.set()
        for thread in background:
            if thread.is_alive():
                thread.join(timeout=30)


def _background(
    concurrency: int, stop: threading.Event, settings: Any, *, shared: bool = False
) -> list[threading.Thread]:
    """The engine worker and the scheduler loop, as daemon threads sharing `stop`.

    Every run the worker executes draws on one running-step limit (engine.slots), so the
    process's descriptors and CPUs bound the steps however many runs are queued.
    """
    from artifact_store import open_store
    from engine.executor import Engine
    from engine.metadata.store import MetadataStore
    from engine.retention import delete_run
    from engine.runners.local import LocalRunner
    from engine.runners.setup import local_runner_settings
    from engine.slots import StepSlots
    from engine.worker import Worker, WorkerLocked, lock_sqlite_queue, sqlite_path
    from scheduler.clock import SystemClock
    from scheduler.service import Scheduler
    from scheduler.settings import SchedulerSettings
    from scheduler.store import RecurringStore

    slots = StepSlots(settings.running_step_limit)
    db = sqlite_path(settings.database_url)
    try:
        lock = lock_sqlite_queue(db) if db is not None else None
    except WorkerLocked as exc:
        _fail(str(exc), EXIT_INVALID)
    metadata = MetadataStore(settings.database_url)

    def make_engine() -> Engine:
        return Engine(
            metadata,
            open_store(settings.artifact_location),
            LocalRunner(local_runner_settings(settings, shared=shared)),
            work_root=settings.work_root,
            poll_interval=settings.poll_interval,
            lease_seconds=settings.lease_seconds,
            slots=slots,
        )

    click.echo(f"at most {slots.limit} steps run at once (--max-running-steps)", err=True)
    worker = Worker(
        make_engine,
        concurrency=concurrency,
        poll_interval=settings.poll_interval,
        log=lambda line: click.echo(line, err=True),
    )

    def work() -> None:
        def relay() -> None:
            stop.wait()
            worker.stopping.set()

        threading.Thread(target=relay, daemon=True).start()
        try:
            worker.run()
        finally:
            if lock is not None:
                lock.close()

    def delete(run_id: str) -> None:
        delete_run(metadata, open_store(settings.artifact_location), run_id)

    scheduler = Scheduler(
        RecurringStore(settings.database_url),
        metadata,
        clock=SystemClock(stop),
        settings=SchedulerSettings(),
        log=lambda line: click.echo(line, err=True),
        delete_run=delete,
    )
    return [
        threading.Thread(target=work, name="kubepipe-engine", daemon=True),
        threading.Thread(
            target=lambda: scheduler.run(stop=stop), name="kubepipe-scheduler", daemon=True
        ),
    ]


@click.group(name="token")
def token_group() -> None:
    """API tokens for `kubepipe server --auth`: one namespace and one role each."""


@token_group.command(name="create")
@click.option("--namespace", required=True, help="the namespace the token can see")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    required=True,
    help="viewer reads; editor also creates, stops, retries and deletes",
)
@click.option("--description", default="", help="what the token is for (shown by `token list`)")
def token_create(namespace: str, role: str, description: str) -> None:
    """Create a token; it is printed once, alone on the last line (only its hash is stored)."""
    from engine.validate import NAMESPACE_NAME, NAMESPACE_RULE
    from server.store import ServerStore

    if not NAMESPACE_NAME.match(namespace):
        _fail(
            f"--namespace {namespace!r} is not a namespace name: use {NAMESPACE_RULE}",
            EXIT_INVALID,
        )
    store = ServerStore(_engine_settings().database_url)
    try:
        token = store.create_token(namespace, Role(role), description)
    finally:
        store.close()
    click.echo(f"token for namespace {namespace} ({role}); it is shown only now:", err=True)
    click.echo(token)


@token_group.command(name="list")
def token_list() -> None:
    """Tokens by id, namespace and role (the tokens themselves are not stored)."""
    from engine.views import iso
    from server.store import ServerStore

    store = ServerStore(_engine_settings().database_url)
    try:
        grants = store.tokens()
    finally:
        store.close()
    click.echo(f"{'ID':<14}{'NAMESPACE':<20}{'ROLE':<8}{'CREATED':<22}DESCRIPTION")
    for g in grants:
        click.echo(
            f"{g.id:<14}{g.namespace[:19]:<20}{g.role.value:<8}{iso(g.created_at) or '':<22}"
            f"{g.description}"
        )


@token_group.command(name="revoke")
@click.argument("token_id")
def token_revoke(token_id: str) -> None:
    """Revoke the token with this id (see `kubepipe token list`)."""
    from server.store import ServerStore

    store = ServerStore(_engine_settings().database_url)
    try:
        revoked = store.revoke_token(token_id)
    finally:
        store.close()
    if not revoked:
        _fail(f"no token with id {token_id!r} (see `kubepipe token list`)", EXIT_FAILED)
    click.echo(f"revoked token {token_id}")
