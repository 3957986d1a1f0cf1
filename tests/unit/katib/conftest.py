"""An Engine built as the CLI builds it, with real local processes, in a temp home."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.executor import Engine
from engine.settings import Settings


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    from artifact_store import open_store
    from engine.metadata.store import MetadataStore
    from engine.runners.local import LocalRunner, LocalRunnerSettings

    settings = Settings(home=tmp_path / "home")
    runner = LocalRunner(LocalRunnerSettings(isolation=settings.isolation, kill_grace_seconds=1.0))
    built = Engine(
        MetadataStore(settings.database_url),
        open_store(settings.artifact_location),
        runner,
        work_root=settings.work_root,
        poll_interval=0.02,
    )
    try:
        yield built
    finally:
        runner.close()
