"""The `store` fixture: a fresh `MetadataStore` on SQLite and on the real PostgreSQL server
(127.0.0.1:5432, database `test`) in a throwaway schema, dropped afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.metadata.store import MetadataStore
from engine.metadata.testing import postgres_url_or_skip

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _postgres_schema() -> Iterator[str]:
    yield from postgres_url_or_skip()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataStore]:
    if request.param == "sqlite":
        s = MetadataStore(f"sqlite:///{tmp_path / 'kp.db'}")
        yield s
        s.close()
        return
    for url in _postgres_schema():
        s = MetadataStore(url)
        yield s
        s.close()
