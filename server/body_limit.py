"""`BodyLimit`: no request body larger than the upload cap is ever held, declared or not.

A body whose Content-Length is over the cap is refused before any of it is read; one sent without
a length (chunked) is counted as it arrives and refused as soon as it passes the cap, instead of
being read whole into memory by the JSON or multipart parser. A pure ASGI middleware, because
only the `receive` channel sees a chunked body's size before it is buffered.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.errors import TooLarge
from server.settings import ServerSettings, limit_body

# Multipart framing around an uploaded file: a body this much over the cap is still let through.
MULTIPART_SLACK = 64 * 1024


def _too_large(settings: ServerSettings, size: str, multipart: bool) -> TooLarge:
    return TooLarge(
        f"the request body ({size}) is larger than the server's upload limit of "
        f"{settings.upload_max_bytes} bytes (KUBEPIPE_SERVER_UPLOAD_MAX_BYTES)",
        field="uploadfile" if multipart else "body",
        extra=limit_body("upload_max_bytes", settings.upload_max_bytes),
    )


class BodyLimit:
    def __init__(self, app: ASGIApp, settings: ServerSettings) -> None:
        self.app = app
        self.settings = settings
        self.limit = settings.upload_max_bytes + MULTIPART_SLACK

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"").decode("latin-1")
        multipart = headers.get(b"content-type", b"").startswith(b"multipart/")
        if declared.isdigit() and int(declared) > self.limit:
            error = _too_large(self.settings, f"{declared} bytes", multipart)
            await JSONResponse(error.body(), status_code=error.status)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    # Raised inside the handler's read; the error handlers answer it as a 413.
                    raise _too_large(self.settings, f"over {self.limit} bytes so far", multipart)
            return message

        await self.app(scope, counted, send)
