"""The scheduler loop's settings, built at its entry point and passed in (no global config)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class SchedulerSettings(BaseSettings):
    """Environment: KUBEPIPE_SCHEDULER_WAKE_INTERVAL, ..."""

    model_config = SettingsConfigDict(env_prefix="KUBEPIPE_SCHEDULER_", extra="ignore")

    # How often a sleeping loop reads the one-row change counter, so a schedule created or
    # edited while it sleeps is picked up within this many seconds (no other polling happens).
    wake_interval: float = 2.0
    # How soon a recurring run held back by max_concurrency is looked at again.
    busy_recheck: float = 15.0
    # How often crashed-mid-fire leftovers are completed and history limits applied.
    housekeeping_interval: float = 30.0
    # The most due times one decision starts (catch-up after a long downtime goes in batches).
    batch: int = 500
