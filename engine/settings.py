"""Settings built once at each entry point (CLI, API app, scheduler) and passed down.

There is no module-level settings object: tests and embedders build their own `Settings`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from engine.slots import default_step_limit


class Settings(BaseSettings):
    """Where kubepipe keeps its state. Environment: KUBEPIPE_HOME, KUBEPIPE_DB_URL, ..."""

    model_config = SettingsConfigDict(env_prefix="KUBEPIPE_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path.home() / ".kubepipe")
    db_url: str | None = None  # any SQLAlchemy URL; default: SQLite in `home`
    artifact_root: str | None = None  # a directory or file:// URI; default: `home`/artifacts
    isolation: str = "auto"  # local runner filesystem isolation: auto | overlay | pathmap
    poll_interval: float = 0.5  # longest the engine sleeps between reconciles
    lease_seconds: float = (
        30.0  # an engine silent this long on a run is presumed dead; its runs are adopted
    )
    # Retention, applied by `kubepipe engine` workers: finished runs beyond the newest N, and/or
    # finished longer ago than a duration (e.g. "7d"), are deleted with their logs and artifacts.
    retention_keep_last: int | None = None
    retention_older_than: str | None = None
    # The step sandbox (overlay isolation): the uid steps run as when they name none (default:
    # one per namespace), whether a securityContext may ask for root, and which host paths a
    # hostPath volume may bind. None means "as the entry point decides": the single-user CLI
    # allows root and any path; `kubepipe up --auth` allows neither unless these are set.
    step_uid: int | None = None
    allow_root_steps: bool | None = None
    allowed_host_paths: list[str] | None = None
    # Steps running at once across every run this process executes (KUBEPIPE_MAX_RUNNING_STEPS,
    # `--max-running-steps`); unset: derived from the machine, see engine.slots.
    max_running_steps: int | None = Field(default=None, ge=1)

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.home / 'kubepipe.db'}"

    @property
    def artifact_location(self) -> str:
        return self.artifact_root or str(self.home / "artifacts")

    @property
    def running_step_limit(self) -> int:
        """`max_running_steps`, or the machine's default (file-descriptor limit and CPUs)."""
        return self.max_running_steps or default_step_limit()

    @property
    def work_root(self) -> Path:
        """Per-attempt working directories of the local runner."""
        return self.home / "work"
