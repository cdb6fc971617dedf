"""The response envelope and the one place errors become HTTP."""

from __future__ import annotations

import time
from typing import Any, Generic, Literal, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from openwork.auth.principal import PRINCIPAL_STATE_KEY
from openwork.errors import OpenworkError, storage_full
from openwork.wire import WireModel, iso

__all__ = [
    "Envelope",
    "ErrorBody",
    "Meta",
    "answer",
    "error_payload",
    "error_response",
    "install_error_handlers",
    "ok",
    "request_id",
    "shape_of",
]

T = TypeVar("T")
Shape = Literal["v2", "server", "daemon"]
# The original openwork-server's paths, kept for its CLI: answered unwrapped, errors with a top-level message.
_LEGACY_SERVER_PREFIXES = ("/files/sessions/", "/workspace/")

_STATUS_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "invalid_request",
    409: "conflict",
    413: "payload_too_large",
    421: "invalid_request",
    422: "invalid_request",
    502: "bad_gateway",
    507: "insufficient_storage",
}


class Meta(BaseModel):
    requestId: str
    timestamp: str  # when the answer was made, ISO 8601 (the V2 contract's)


class Envelope(BaseModel, Generic[T]):
    model_config = ConfigDict(extra="forbid")
    ok: Literal[True] = True
    data: T
    meta: Meta


class ErrorDetail(BaseModel):
    code: str
    message: str
    requestId: str


class ErrorBody(BaseModel):
    ok: Literal[False] = False
    error: ErrorDetail


def request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


def ok(request: Request, data: T) -> Envelope[T]:
    """Wrap ``data`` (a wire model, or a plain dict where the route is not typed yet) in the success envelope.

    The route's ``response_model`` (``Envelope[ThatModel]``) validates it and serializes it by alias."""
    return Envelope(data=data, meta=Meta(requestId=request_id(request), timestamp=iso(time.time())))


def error_body(code: str, message: str, rid: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message, "requestId": rid}}


def shape_of(scope: Scope) -> Shape:
    """Which generation's shapes a request is answered in: the original daemon's for its native clients
    (openwork.auth.native), the original server's on its legacy paths, ours everywhere else."""
    if getattr(scope.get("state", {}).get(PRINCIPAL_STATE_KEY), "native", False):
        return "daemon"
    return "server" if scope.get("path", "").startswith(_LEGACY_SERVER_PREFIXES) else "v2"


def error_payload(scope: Scope, code: str, message: str, rid: str) -> dict[str, Any]:
    """The error body in the request's shape. The original clients print a top-level ``message``; the
    original daemon's said ``{error: "<text>"}``."""
    shape = shape_of(scope)
    if shape == "daemon":
        return {"ok": False, "error": message, "code": code, "message": message}
    body = error_body(code, message, rid)
    if shape == "server":  # ours, plus the original server's top-level fields
        body.update(code=code, message=message)
    return body


def answer(request: Request, data: WireModel, *, status: int = 200) -> Envelope[Any] | JSONResponse:
    """``data`` in the request's shape: our envelope, or unwrapped on the original server's legacy paths."""
    if shape_of(request.scope) == "v2":
        return ok(request, data)
    return JSONResponse(data.wire(), status_code=status)


def error_response(request: Request, status: int, code: str, message: str) -> JSONResponse:
    headers = {"www-authenticate": 'Bearer realm="openwork"'} if status == 401 else None
    payload = error_payload(request.scope, code, message, request_id(request))
    return JSONResponse(payload, status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    async def openwork_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, OpenworkError)
        return error_response(request, exc.status, exc.code, exc.message)

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(request, 422, "invalid_request", _validation_message(exc))

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _STATUS_CODES.get(exc.status_code, "internal_error" if exc.status_code >= 500 else "invalid_request")
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        return error_response(request, exc.status_code, code, message)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A full disk that no write path mapped is still a 507 that says so, not an opaque 500: the cause
        # may hide behind a later error (sqlite3's "cannot rollback" after a failed COMMIT). This is the
        # catch-all (Starlette's ServerErrorMiddleware): it answers, then re-raises for the server's log.
        # Not a handler for OSError itself: that would turn an OSError after a stream started into
        # Starlette's "response already started" RuntimeError.
        filename = getattr(exc, "filename", None)
        full = storage_full(exc, str(filename) if filename else "the server's state or files")
        if full is not None:
            return error_response(request, full.status, full.code, full.message)
        # Never echo internals (they may hold paths or secrets); the log has the event.
        return error_response(request, 500, "internal_error", "internal error")

    app.add_exception_handler(OpenworkError, openwork_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
