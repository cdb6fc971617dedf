"""Application factory."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Scope

from openwork import __version__
from openwork.api import approvals, env, files, proxy, runtime, system, tokens, workspaces, wsproxy
from openwork.api.bodies import BodyLimits, BodyRoute
from openwork.api.context import AppContext
from openwork.api.envelope import ErrorBody, install_error_handlers
from openwork.api.guard import GuardMiddleware
from openwork.auth.principal import Principal, authenticate

__all__ = ["body_routes", "create_app"]

CORS_MAX_AGE = 600  # seconds a browser may cache a preflight's answer
_POST = frozenset({"POST"})
_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def body_routes(proxy_max_body: int) -> tuple[BodyRoute, ...]:
    """The routes whose body cap is not the 1 MiB default (GET, HEAD and OPTIONS keep it everywhere). A test
    checks each template against the app's own route table, so a renamed route cannot silently lose its cap."""
    return (
        # A write batch carries file contents (base64); operations carry up to 1000 pairs of 1024-char paths.
        *(
            BodyRoute(template=prefix + "/{sid}/" + name, methods=_POST, limit=files.WRITE_BODY_LIMIT)
            for prefix in ("/workspaces/{ws_id}/file-sessions", "/files/sessions")
            for name in ("write-batch", "operations", "ops")
        ),
        # opencode's bodies (prompts, attachments) stream through as they arrive, under --proxy-max-body;
        # the proxy itself buffers only bodies it must read (openwork.proxy.forward), under 1 MiB.
        BodyRoute(
            template="/workspaces/{ws_id}/opencode/{path:path}",
            methods=_WITH_BODY,
            limit=proxy_max_body,
            streamed=True,
        ),
    )


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
    app.include_router(env.router)
    app.include_router(tokens.router)
    app.include_router(workspaces.router)
    app.include_router(proxy.router)
    app.include_router(wsproxy.router)
    app.include_router(workspaces.legacy_router)
    files.include_file_routes(app)
    app.include_router(approvals.router)
    app.include_router(runtime.router)
    app.include_router(runtime.legacy_router)
    _walk_routes(app)

    def caller(authorization: str | None, host_token: str | None) -> Principal:
        return authenticate(
            authorization=authorization, host_header_token=host_token, credentials=ctx.credentials, tokens=ctx.tokens
        )

    guarded = GuardMiddleware(
        app,
        authenticate=caller,
        cors_origins=ctx.config.cors_origins,
        body_limits=BodyLimits(body_routes(ctx.config.proxy_max_body)),
    )
    if not ctx.config.cors_origins:
        return guarded
    # Outside the guard: a preflight carries no token. Bearer tokens need no credentials mode, so CORS
    # never allows credentials (with "*" the browser would refuse them anyway).
    return CORSMiddleware(
        guarded,
        allow_origins=list(ctx.config.cors_origins),
        allow_credentials=False,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=["x-request-id"],
        max_age=CORS_MAX_AGE,
    )


def _walk_routes(app: FastAPI) -> None:
    """Match a path no route has against every route, now (the server builds its app in a worker thread
    while opencode boots): FastAPI builds an included router's route table the first time a request walks
    it, and the first client request (often `daemon stop`'s or `workspace add`'s) would wait for that
    (docs/benchmarks.md). ``matches`` is Starlette's synchronous route API; nothing is sent."""
    scope: Scope = {"type": "http", "method": "GET", "path": "/-", "root_path": "", "headers": []}
    for route in app.router.routes:
        route.matches(scope)
