"""Errors the API returns, one class per HTTP status, all rendered as
`{"error": ..., "detail": ..., "field": ...}`.

Hierarchy::

    ApiError                 root; `status` is the HTTP status
    ├── BadRequest      400  the request cannot be read at all (bad JSON, bad Range)
    ├── Unauthorized    401  no token, or a token the server does not know
    ├── Forbidden       403  a viewer asked to change something
    ├── NotFound        404  no such object, or one in another namespace
    ├── Conflict        409  the name is taken, or the object's state forbids it
    ├── TooLarge        413  an upload over the configured cap
    ├── RangeNotSatisfiable 416  a Range outside the artifact
    └── Invalid         422  the request reads but is wrong: names the field (and YAML line)
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


class ApiError(Exception):
    status = 500
    error = "internal error"

    def __init__(
        self, detail: str, field: str | None = None, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "detail": self.detail, "field": self.field, **self.extra}


class BadRequest(ApiError):
    status, error = 400, "bad request"


class Unauthorized(ApiError):
    status, error = 401, "unauthorized"


class Forbidden(ApiError):
    status, error = 403, "forbidden"


class NotFound(ApiError):
    status, error = 404, "not found"


class Conflict(ApiError):
    status, error = 409, "conflict"


class TooLarge(ApiError):
    status, error = 413, "payload too large"


class RangeNotSatisfiable(ApiError):
    status, error = 416, "range not satisfiable"


class Invalid(ApiError):
    status, error = 422, "invalid"


_STATUS_ERRORS = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: BadRequest,
}


def _field_of(loc: tuple[Any, ...]) -> str:
    """`("body", "parameters", "x")` -> `parameters.x`: the place a person wrote the value;
    a query parameter, path segment or header is named alone (`("query", "phase", 0)` -> phase)."""
    if len(loc) > 1 and loc[0] in ("query", "path", "header"):
        return str(loc[1])
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or (str(loc[0]) if loc else "")


def _validation_response(exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": ""}
    loc = tuple(first.get("loc") or ())
    if first.get("type") == "json_invalid":
        ctx = first.get("ctx")
        reason = ctx.get("error") if isinstance(ctx, dict) else first.get("msg")
        body = BadRequest(
            f"the request body is not valid JSON: {reason}",
            field="body",
        ).body()
        return JSONResponse(body, status_code=400)
    field = _field_of(loc)
    problems = [
        {"field": _field_of(tuple(e.get("loc") or ())), "message": e["msg"]} for e in errors
    ]
    detail = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    return JSONResponse(
        Invalid(detail, field=field, extra={"problems": problems}).body(), status_code=422
    )


def _too_deep() -> JSONResponse:
    """Whatever recursed (the JSON decoder, a parser, a validator, an encoder), the cause is
    input nested past what the server walks: a 422 the client can act on, never a 500."""
    body = Invalid(
        "the request nests too deeply to be processed; flatten the nested lists or objects",
        field="body",
    ).body()
    return JSONResponse(body, status_code=422)


def install_handlers(app: FastAPI) -> None:
    """Every error leaves the API in the one JSON shape, whatever raised it."""

    async def api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return JSONResponse(exc.body(), status_code=exc.status)

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return _validation_response(exc)

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        # FastAPI answers any failure to read the body "400 error parsing the body": say why.
        if isinstance(exc.__cause__, RecursionError):
            return _too_deep()
        if isinstance(exc.__cause__, ApiError):  # e.g. BodyLimit's 413 while it was read
            return JSONResponse(exc.__cause__.body(), status_code=exc.__cause__.status)
        kind = _STATUS_ERRORS.get(exc.status_code, ApiError)
        body = kind(str(exc.detail)).body()
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    async def too_deep(_: Request, exc: Exception) -> JSONResponse:
        return _too_deep()

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RecursionError, too_deep)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
