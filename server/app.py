"""`create_app(settings)`: the FastAPI application (REST API under /api/v1, the dashboard at /).

Everything the handlers use is built here from the settings passed in and kept on `app.state`;
two apps in one process (tests do this) share nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from artifact_store import open_store
from engine.metadata.store import MetadataStore
from server.auth import Principal, principal
from server.body_limit import BodyLimit
from server.context import Services
from server.errors import install_handlers
from server.routes import experiments, outputs, pipelines, recurring, runs
from server.schemas import Whoami
from server.settings import ServerSettings
from server.store import ServerStore
from server.text import storable_params


def static_dir() -> Path:
    return Path(str(files("server") / "static"))


def create_app(settings: ServerSettings) -> FastAPI:
    engine_settings = settings.engine
    svc = Services(
        settings=settings,
        metadata=MetadataStore(engine_settings.database_url),
        store=ServerStore(engine_settings.database_url),
        artifacts=open_store(engine_settings.artifact_location),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        svc.close()

    app = FastAPI(
        title="kubepipe",
        version="1",
        description="Pipelines, runs, logs, artifacts and recurring runs of a kubepipe engine.",
        lifespan=lifespan,
        dependencies=[Depends(storable_params)],
    )
    app.state.services = svc
    install_handlers(app)

    app.add_middleware(BodyLimit, settings=settings)

    for module in (pipelines, experiments, runs, outputs, recurring):
        app.include_router(module.router)

    @app.get("/api/v1/whoami", response_model=Whoami, tags=["auth"])
    def whoami(who: Principal = Depends(principal)) -> Whoami:
        """Who the token (or the local user) is: the dashboard shows it and hides edit buttons."""
        return Whoami(namespace=who.namespace, role=who.role, auth=settings.auth)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    static = static_dir()
    app.mount("/static", StaticFiles(directory=static), name="static")

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(static / "index.html", media_type="text/html")

    return app
