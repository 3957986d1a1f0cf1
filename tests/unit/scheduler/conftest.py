"""Fixtures: the scheduler's and the engine's stores on one database, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sched_support import postgres_url

from engine.metadata.store import MetadataStore
from scheduler.store import RecurringStore


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'kp.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'kp.db'}"
        return
    yield from postgres_url()


@pytest.fixture
def stores(db_url: str) -> Iterator[tuple[RecurringStore, MetadataStore]]:
    store, metadata = RecurringStore(db_url), MetadataStore(db_url)
    yield store, metadata
    store.close()
    metadata.close()
