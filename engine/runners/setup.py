"""The local runner an entry point builds from `Settings`: one place, so the CLI, the engine
workers and `kubepipe up` sandbox steps alike."""

from __future__ import annotations

import tempfile
from pathlib import Path

from engine.runners._identity import SandboxPolicy
from engine.runners._launch import Launcher, default_passthrough
from engine.runners.local import LocalRunnerSettings
from engine.settings import Settings

__all__ = ["isolation_warning", "local_runner_settings"]


def _state_paths(settings: Settings) -> tuple[str, ...]:
    """Where the engine keeps what no step may see: its home, database and artifacts."""
    paths = [str(settings.home)]
    url = settings.database_url
    if url.startswith("sqlite:///"):
        paths.append(str(Path(url.removeprefix("sqlite:///")).parent))
    location = settings.artifact_location
    if "://" not in location or location.startswith("file://"):
        paths.append(location.removeprefix("file://"))
    return tuple(dict.fromkeys(str(Path(p).expanduser()) for p in paths))


def local_runner_settings(settings: Settings, *, shared: bool = False) -> LocalRunnerSettings:
    """`shared`: the runner serves several tenants (`kubepipe up --auth`), so root steps and
    hostPath volumes are off unless the settings turn them on."""
    allow_root = settings.allow_root_steps
    host_paths = settings.allowed_host_paths
    policy = SandboxPolicy(
        step_uid=settings.step_uid,
        allow_root=(not shared) if allow_root is None else allow_root,
        host_paths=(() if shared else None) if host_paths is None else tuple(host_paths),
        hidden_paths=_state_paths(settings),
    )
    return LocalRunnerSettings(isolation=settings.isolation, sandbox=policy)  # type: ignore[arg-type]


def isolation_warning(runner: LocalRunnerSettings) -> str | None:
    """Why steps would be less isolated than the README promises here, or None.

    Overlay isolation is what keeps tenants apart (own uid, PID namespace, no view of the
    engine's files); path mapping, the fallback, keeps their files apart only.
    """
    reason: str | None = None
    if runner.isolation == "pathmap":
        reason = "isolation=pathmap was configured"
    else:
        launcher = Launcher({}, (*default_passthrough(), *runner.passthrough_paths), runner.sandbox)
        try:
            with tempfile.TemporaryDirectory() as scratch:
                reason = launcher.probe_overlay(Path(scratch) / "probe")
        finally:
            launcher.close()
    if reason is None:
        return None
    return (
        f"tenant isolation is weaker than documented: {reason}. Steps will run as this "
        "server's own user, see its processes and can read any file it can; run kubepipe as "
        "root on Linux with overlayfs, or serve one tenant only"
    )
