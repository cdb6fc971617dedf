"""Application factory."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp

from openwork import __version__
from openwork.api import approvals, files, proxy, runtime, system, tokens, workspaces
from openwork.api.context import AppContext
from openwork.api.envelope import ErrorBody, install_error_handlers
from openwork.api.guard import GuardMiddleware

__all__ = ["create_app"]


def create_app(ctx: AppContext) -> ASGIApp:
    """The FastAPI app for one server, wrapped in the guard middleware."""
    app = FastAPI(
        title="OpenWork server",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        # Every route may answer with the error envelope; say so in the schema clients generate from.
        responses={
            code: {"model": ErrorBody, "description": text}
            for code, text in (
                (400, "invalid_request"),
                (401, "unauthorized"),
                (403, "forbidden / write_denied"),
                (404, "not_found"),
                (409, "conflict"),
                (413, "payload_too_large"),
                (500, "internal_error"),
                (502, "bad_gateway (opencode is not running or did not answer)"),
            )
        },
    )
    app.state.ctx = ctx
    install_error_handlers(app)
    app.include_router(system.router)
    app.include_router(tokens.router)
    app.include_router(workspaces.router)
    app.include_router(proxy.router)
    app.include_router(workspaces.legacy_router)
    files.include_file_routes(app)
    app.include_router(approvals.router)
    app.include_router(runtime.router)
    app.include_router(runtime.legacy_router)
    return GuardMiddleware(
        app,
        allowed_origins=ctx.config.allowed_origins,
        large_bodies=[("/write-batch", files.WRITE_BODY_LIMIT)],
    )
