"""A throwaway PostgreSQL schema, for the tests and benchmarks that need the real server.

Every suite that keeps state in the metadata database (the engine's, the scheduler's, the
server's) runs on PostgreSQL too, each test in a schema of its own that is dropped afterwards,
so runs of the suite never see each other's rows. The URL selects the schema through libpq's
`options=-csearch_path=...`, which every connection of the pool then uses.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text

__all__ = ["LOCAL_POSTGRES_URL", "PostgresUnreachable", "postgres_url_or_skip", "throwaway_schema"]

LOCAL_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class PostgresUnreachable(RuntimeError):
    """No PostgreSQL server answers at the URL (callers skip the PostgreSQL half)."""


@contextmanager
def throwaway_schema(url: str = LOCAL_POSTGRES_URL, prefix: str = "kp") -> Iterator[str]:
    """A URL whose search_path is a fresh schema on `url`'s server, dropped on exit."""
    try:
        admin = create_engine(url)
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # noqa: BLE001 - any failure to connect means "no server here"
        raise PostgresUnreachable(
            f"PostgreSQL at {url} is not reachable ({type(exc).__name__})"
        ) from exc
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with admin.begin() as conn:
        conn.execute(text(f"create schema {schema}"))
    try:
        yield f"{url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"drop schema {schema} cascade"))
        admin.dispose()


def postgres_url_or_skip(prefix: str = "kp") -> Iterator[str]:
    """For pytest fixtures (`yield from`): a throwaway schema's URL, or a skip saying why."""
    import pytest

    try:
        schema = throwaway_schema(prefix=prefix)
        url = schema.__enter__()
    except PostgresUnreachable as exc:
        pytest.skip(str(exc))
    try:
        yield url
    finally:
        schema.__exit__(None, None, None)
