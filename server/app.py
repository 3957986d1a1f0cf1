"""`create_app(settings)`: the FastAPI application (REST API under /api/v1, the dashboard at /).

Everything the handlers use is built here from the settings passed in and kept on `app.state`;
two apps in one process (tests do this) share nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from artifact_store import open_store
from engine.metadata.store import MetadataStore
from server.auth import Principal, principal
from server.context import Services
from server.errors import TooLarge, install_handlers
from server.routes import experiments, outputs, pipelines, recurring, runs
from server.schemas import Whoami
from server.settings import ServerSettings, limit_body
from server.store import ServerStore

# Multipart framing around an uploaded file: a body this much over the cap is refused unread.
_MULTIPART_SLACK = 64 * 1024


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
    )
    app.state.services = svc
    install_handlers(app)

    @app.middleware("http")
    async def refuse_oversized(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """A declared body over the cap is refused before any of it is read."""
        declared = request.headers.get("content-length")
        limit = settings.upload_max_bytes + _MULTIPART_SLACK
        if declared is not None and declared.isdigit() and int(declared) > limit:
            error = TooLarge(
                f"the request body ({declared} bytes) is larger than the server's upload limit "
                f"of {settings.upload_max_bytes} bytes (KUBEPIPE_SERVER_UPLOAD_MAX_BYTES)",
                field="uploadfile",
                extra=limit_body("upload_max_bytes", settings.upload_max_bytes),
            )
            return JSONResponse(error.body(), status_code=error.status)
        return await call_next(request)

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
