"""ASGI middleware in front of every route: request ids, Host and Origin checks, authentication before a
body is read, and each route's body cap.

A pure ASGI layer (not BaseHTTPMiddleware) so streaming responses pass through untouched. FastAPI reads and
parses a body before it solves a route's dependencies, so the auth dependency alone would run after a
stranger's 47 MiB had been read and parsed: a request that carries a body is authenticated here, from its
headers, before the first ``receive()``, and the caller is left in ``scope["state"]`` for the dependency.
A request without a body is left to the route's dependency (an unknown path then stays a 404).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections.abc import Callable, Iterable
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import unquote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openwork.api.bodies import BodyLimits, LargeBodyGate, read_body, streamed_body
from openwork.api.envelope import error_payload
from openwork.auth.native import is_native_route, native_headers, same_user_loopback
from openwork.auth.principal import HOST_TOKEN_HEADER, NATIVE, PRINCIPAL_STATE_KEY, Principal
from openwork.errors import OpenworkError, PayloadTooLarge, ValidationError
from openwork.workspaces.registry import ENCODED_SLASH

__all__ = ["LOOPBACK_HOSTS", "PRINCIPAL_STATE_KEY", "PUBLIC_PATHS", "Authenticator", "GuardMiddleware"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
# The desktop shell's own origins; a web page cannot claim these.
APP_ORIGINS = frozenset({"tauri://localhost", "http://tauri.localhost", "https://tauri.localhost"})
# The routes that answer without credentials, for GET and HEAD: liveness (and the old daemon's) and the
# schema clients generate from. Every other request that carries a body must authenticate first.
PUBLIC_PATHS = frozenset({"/system/health", "/health", "/openapi.json"})
_PUBLIC_METHODS = frozenset({"GET", "HEAD"})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_ANONYMOUS = "anonymous"  # the large-body share of a public route's caller (its cap keeps it from needing one)
_RID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_REF_ROUTE = re.compile(r"^/(?P<kind>workspaces|instances)/(?P<ref>[^/]+)(?P<tail>/activate|/path|/dispose)?$")
_ORIGIN_RE = re.compile(r"^https?://(127\.0\.0\.1|localhost|\[::1\])(:\d{1,5})?$")

# (Authorization header, X-OpenWork-Host-Token header) -> the caller, or AuthError.
Authenticator = Callable[[str | None, str | None], Principal]


_HOST_RE = re.compile(r"(?P<name>\[[0-9A-Fa-f:.]+\]|[^:\[\]]*)(?::\d{1,5})?")


def _host_name(host: str) -> str:
    """The name in a ``Host`` header (without its port); "" when the header is malformed."""
    match = _HOST_RE.fullmatch(host)
    return match["name"] if match else ""


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
        raw_path = scope.get("raw_path")
        if raw_path and b"%2f" in raw_path.lower():
            scope = _keep_encoded_slash(scope, raw_path)
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
            await _reject(scope, send_with_id, 400, "invalid_request", "Host header not allowed", rid)
            return
        origin = headers.get("origin")
        if (
            origin is not None
            and scope["method"] not in _SAFE_METHODS
            and not self.any_origin
            and origin not in self.allowed_origins
            and not _ORIGIN_RE.match(origin)
        ):
            await _reject(scope, send_with_id, 403, "forbidden", "Origin not allowed", rid)
            return
        if (
            is_native_route(scope["method"], scope.get("path", ""))
            and native_headers(headers)
            and await asyncio.to_thread(same_user_loopback, scope.get("client"), scope.get("server"))
        ):
            scope["state"][PRINCIPAL_STATE_KEY] = NATIVE
        length = headers.get("content-length")
        # HTTP/1.1 frames a body by these two headers only (RFC 9112 6.3): without them there is none.
        if "transfer-encoding" not in headers and length in (None, "0"):
            await self.app(scope, receive, send_with_id)
            return
        await self._with_body(scope, receive, send_with_id, headers, rid)

    async def _with_body(self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str], rid: str) -> None:
        method, path = scope["method"], scope.get("path", "")
        try:
            principal = scope["state"].get(PRINCIPAL_STATE_KEY)
            if principal is None and not (method in _PUBLIC_METHODS and path in PUBLIC_PATHS):
                principal = self.authenticate(headers.get("authorization"), headers.get(HOST_TOKEN_HEADER))
            route = self.body_limits.route(method, path)
            limit = route.limit
            declared = _declared(headers.get("content-length"), limit)
        except OpenworkError as exc:
            await _reject(scope, send, exc.status, exc.code, exc.message, rid)
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
                await _reject(scope, send, exc.status, exc.code, exc.message, rid)
                return
            if body is None:  # the client went away before its body arrived: nobody to answer
                return
            await self.app(scope, _replay(body, receive), send)


def _keep_encoded_slash(scope: Scope, raw_path: bytes) -> Scope:
    """The original CLI looks a workspace up by its folder path, percent-encoded into one segment
    (``/workspaces/%2Fhome%2Fme%2Fproj``); the decoded path would split it. On those routes only, the
    segment keeps its slashes encoded, and the registry's lookup reads them back (``ENCODED_SLASH``)."""
    match = _REF_ROUTE.match(raw_path.decode("latin-1"))
    if match is None:
        return scope
    ref = unquote(match["ref"]).replace("/", ENCODED_SLASH)
    return {**scope, "path": f"/{match['kind']}/{ref}{match['tail'] or ''}"}


async def _reject(scope: Scope, send: Send, status: int, code: str, message: str, rid: str) -> None:
    payload = json.dumps(error_payload(scope, code, message, rid)).encode()
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
