"""The response envelope and the one place errors become HTTP."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from openwork.errors import OpenworkError, storage_full

__all__ = ["Envelope", "ErrorBody", "Meta", "error_response", "install_error_handlers", "ok", "request_id"]

T = TypeVar("T")

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
    return Envelope(data=data, meta=Meta(requestId=request_id(request)))


def error_body(code: str, message: str, rid: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message, "requestId": rid}}


def error_response(status: int, code: str, message: str, rid: str) -> JSONResponse:
    headers = {"www-authenticate": 'Bearer realm="openwork"'} if status == 401 else None
    return JSONResponse(error_body(code, message, rid), status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    async def openwork_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, OpenworkError)
        return error_response(exc.status, exc.code, exc.message, request_id(request))

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(422, "invalid_request", _validation_message(exc), request_id(request))

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _STATUS_CODES.get(exc.status_code, "internal_error" if exc.status_code >= 500 else "invalid_request")
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        return error_response(exc.status_code, code, message, request_id(request))

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A full disk that no write path mapped is still a 507 that says so, not an opaque 500: the cause
        # may hide behind a later error (sqlite3's "cannot rollback" after a failed COMMIT). This is the
        # catch-all (Starlette's ServerErrorMiddleware): it answers, then re-raises for the server's log.
        # Not a handler for OSError itself: that would turn an OSError after a stream started into
        # Starlette's "response already started" RuntimeError.
        filename = getattr(exc, "filename", None)
        full = storage_full(exc, str(filename) if filename else "the server's state or files")
        if full is not None:
            return error_response(full.status, full.code, full.message, request_id(request))
        # Never echo internals (they may hold paths or secrets); the log has the event.
        return error_response(500, "internal_error", "internal error", request_id(request))

    app.add_exception_handler(OpenworkError, openwork_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
