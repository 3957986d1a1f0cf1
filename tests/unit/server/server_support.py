"""Helpers for the server tests: the real app (create_app) over a temp home, with httpx's TestClient, and a way to execute the
runs it queues with the real engine in-process (what a `kubepipe engine` worker would do)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from engine.metadata.testing import postgres_url_or_skip
from engine.settings import Settings
from server import ServerSettings

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass
class Api:
    client: TestClient
    app: FastAPI
    settings: ServerSettings

    def upload(self, path: Path | str, name: str, **headers: str) -> dict:
        data = Path(path).read_bytes() if isinstance(path, Path) else path.encode()
        response = self.client.post(
            f"/api/v1/pipelines/upload?name={name}",
            files={"uploadfile": (f"{name}.yaml", data)},
            headers=headers,
        )
        assert response.status_code == 201, response.text
        return response.json()

    def start(self, pipeline_id: str, **parameters: str) -> dict:
        response = self.client.post(
            "/api/v1/runs", json={"pipeline_id": pipeline_id, "parameters": parameters}
        )
        assert response.status_code == 201, response.text
        return response.json()

    def execute(self, run_id: str) -> str:
        """Drive a queued run to its end with the real engine and local runner."""
        from artifact_store import open_store
        from engine.executor import Engine
        from engine.runners.local import LocalRunner

        svc = self.app.state.services
        engine = Engine(
            svc.metadata,
            open_store(self.settings.engine.artifact_location),
            LocalRunner(),
            work_root=self.settings.engine.work_root,
            poll_interval=0.05,
        )
        try:
            return engine.execute(run_id).phase.value
        finally:
            engine.runner.close()


def _settings(home: Path, db_url: str | None, **extra: object) -> ServerSettings:
    return ServerSettings(engine=Settings(home=home, db_url=db_url), follow_interval=0.05, **extra)


def postgres_url() -> Iterator[str]:
    """A throwaway schema on the local PostgreSQL, or a skip when there is none."""
    yield from postgres_url_or_skip("kps")
