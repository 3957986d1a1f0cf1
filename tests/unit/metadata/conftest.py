"""The `store` fixture: a fresh `MetadataStore` on SQLite and on the real PostgreSQL server
(127.0.0.1:5432, database `test`) in a throwaway schema, dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from engine.metadata.store import MetadataStore

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _postgres_schema() -> Iterator[str]:
    try:
        admin = create_engine(PG_URL)
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # no server: the SQLite half still runs
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is not reachable ({type(exc).__name__})")
    schema = f"kp_{uuid.uuid4().hex[:10]}"
    with admin.begin() as conn:
        conn.execute(text(f"create schema {schema}"))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"drop schema {schema} cascade"))
        admin.dispose()


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
