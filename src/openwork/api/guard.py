"""ASGI middleware in front of every route: request ids, Host and Origin checks, authentication before a
body is read, and each route's body cap.

A pure ASGI layer (not BaseHTTPMiddleware) so streaming responses pass through untouched. FastAPI reads and
parses a body before it solves a route's dependencies, so the auth dependency alone would run after a
stranger's 47 MiB had been read and parsed: a request that carries a body is authenticated here, from its
headers, before the first ``receive()``, and the caller is left in ``scope["state"]`` for the dependency.
A request without a body is left to the route's dependency (an unknown path then stays a 404).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterable
from contextlib import AsyncExitStack
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openwork.api.bodies import BodyLimits, LargeBodyGate, read_body, streamed_body
from openwork.api.envelope import error_body
from openwork.auth.principal import HOST_TOKEN_HEADER, Principal
from openwork.errors import OpenworkError, PayloadTooLarge, ValidationError

__all__ = ["LOOPBACK_HOSTS", "PRINCIPAL_STATE_KEY", "PUBLIC_PATHS", "Authenticator", "GuardMiddleware"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
# The desktop shell's own origins; a web page cannot claim these.
APP_ORIGINS = frozenset({"tauri://localhost", "http://tauri.localhost", "https://tauri.localhost"})
# The routes that answer without credentials, for GET and HEAD: liveness (and the old daemon's) and the
# schema clients generate from. Every other request that carries a body must authenticate first.
PUBLIC_PATHS = frozenset({"/system/health", "/health", "/openapi.json"})
PRINCIPAL_STATE_KEY = "openwork.principal"  # in scope["state"]: the caller the guard authenticated
_PUBLIC_METHODS = frozenset({"GET", "HEAD"})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_ANONYMOUS = "anonymous"  # the large-body share of a public route's caller (its cap keeps it from needing one)
_RID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_ORIGIN_RE = re.compile(r"^https?://(127\.0\.0\.1|localhost|\[::1\])(:\d{1,5})?$")

# (Authorization header, X-OpenWork-Host-Token header) -> the caller, or AuthError.
Authenticator = Callable[[str | None, str | None], Principal]


def _host_name(host: str) -> str:
    if host.startswith("["):
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _headers(scope: Scope) -> dict[str, str]:
    # The first of repeated headers wins, as in Starlette's ``Request.headers.get``: the guard checks what
    # the routes will read.
    headers: dict[str, str] = {}
    for key, value in scope["headers"]:
        headers.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))
    return headers


def _declared(length: str | None, limit: int) -> int | None:
    if length is None:
        return None
    if not length.isdigit():
        raise ValidationError("invalid Content-Length")
    if int(length) > limit:
        raise PayloadTooLarge(f"request body over {limit} bytes")
    return int(length)


class GuardMiddleware:
    """Checks every HTTP request before the app sees it; with a body, authenticates, caps and reads it."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticate: Authenticator,
        cors_origins: Iterable[str] = (),
        body_limits: BodyLimits | None = None,
        gate: LargeBodyGate | None = None,
    ) -> None:
        self.app = app
        self.authenticate = authenticate
        origins = frozenset(cors_origins)
        self.any_origin = "*" in origins  # ``--cors "*"``: every origin passes; a token is still required
        self.allowed_origins = origins | APP_ORIGINS
        self.body_limits = body_limits or BodyLimits(())
        self.gate = gate or LargeBodyGate()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        presented = headers.get("x-request-id", "")
        rid = presented if _RID_RE.match(presented) else "req_" + secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        host = headers.get("host", "")
        if _host_name(host).lower() not in LOOPBACK_HOSTS:
            await _reject(send_with_id, 400, "invalid_request", "Host header not allowed", rid)
            return
        origin = headers.get("origin")
        if (
            origin is not None
            and scope["method"] not in _SAFE_METHODS
            and not self.any_origin
            and origin not in self.allowed_origins
            and not _ORIGIN_RE.match(origin)
        ):
            await _reject(send_with_id, 403, "forbidden", "Origin not allowed", rid)
            return
        length = headers.get("content-length")
        # HTTP/1.1 frames a body by these two headers only (RFC 9112 6.3): without them there is none.
        if "transfer-encoding" not in headers and length in (None, "0"):
            await self.app(scope, receive, send_with_id)
            return
        await self._with_body(scope, receive, send_with_id, headers, rid)

    async def _with_body(self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str], rid: str) -> None:
        method, path = scope["method"], scope.get("path", "")
        try:
            principal = None
            if not (method in _PUBLIC_METHODS and path in PUBLIC_PATHS):
                principal = self.authenticate(headers.get("authorization"), headers.get(HOST_TOKEN_HEADER))
            route = self.body_limits.route(method, path)
            limit = route.limit
            declared = _declared(headers.get("content-length"), limit)
        except OpenworkError as exc:
            await _reject(send, exc.status, exc.code, exc.message, rid)
            return
        if principal is not None:
            scope["state"][PRINCIPAL_STATE_KEY] = principal
        if route.streamed:  # the route passes the body on as it arrives; only counted here, never held
            await self.app(scope, streamed_body(receive, limit=limit), send)
            return
        share = principal.subject if principal is not None else _ANONYMOUS
        async with AsyncExitStack() as stack:  # a large body's slot is held until its answer is sent

            async def large() -> None:
                await stack.enter_async_context(self.gate.slot(share))

            try:
                body = await read_body(receive, limit=limit, declared=declared, large=large)
            except OpenworkError as exc:
                await _reject(send, exc.status, exc.code, exc.message, rid)
                return
            if body is None:  # the client went away before its body arrived: nobody to answer
                return
            await self.app(scope, _replay(body, receive), send)


async def _reject(send: Send, status: int, code: str, message: str, rid: str) -> None:
    payload = json.dumps(error_body(code, message, rid)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="openwork"'))  # as the app's own 401s
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Any:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for disconnect like the server would

    return replay
