"""Fixtures for the server tests (helpers live in server_support)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from server_support import Api, _settings

from server import create_app


@pytest.fixture
def make_api(tmp_path: Path) -> Iterator[Callable[..., Api]]:
    made: list[TestClient] = []

    def make(db_url: str | None = None, **extra: object) -> Api:
        settings = _settings(tmp_path / "home", db_url, **extra)
        app = create_app(settings)
        client = TestClient(app)
        client.__enter__()
        made.append(client)
        return Api(client, app, settings)

    yield make
    for client in made:
        client.__exit__(None, None, None)


@pytest.fixture
def api(make_api: Callable[..., Api]) -> Api:
    return make_api()
