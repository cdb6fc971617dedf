"""ASGI middleware in front of every route: request ids, Host and Origin checks, body size cap.

A pure ASGI layer (not BaseHTTPMiddleware) so streaming responses pass through untouched.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openwork.api.envelope import error_body
from openwork.constants import DEFAULT_MAX_BODY_BYTES

__all__ = ["LOOPBACK_HOSTS", "GuardMiddleware"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
# The desktop shell's own origins; a web page cannot claim these.
APP_ORIGINS = frozenset({"tauri://localhost", "http://tauri.localhost", "https://tauri.localhost"})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_RID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_ORIGIN_RE = re.compile(r"^https?://(127\.0\.0\.1|localhost|\[::1\])(:\d{1,5})?$")


def _host_name(host: str) -> str:
    if host.startswith("["):
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class GuardMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_origins: Iterable[str] = (),
        max_body: int = DEFAULT_MAX_BODY_BYTES,
        large_bodies: Iterable[tuple[str, int]] = (),
    ) -> None:
        self.app = app
        self.allowed_origins = frozenset(allowed_origins) | APP_ORIGINS
        self.max_body = max_body
        # (path suffix, cap): routes that legitimately carry more than max_body (file write batches).
        self.large_bodies = tuple(large_bodies)

    def _limit(self, path: str) -> int:
        for suffix, cap in self.large_bodies:
            if path.endswith(suffix):
                return cap
        return self.max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        presented = headers.get("x-request-id", "")
        rid = presented if _RID_RE.match(presented) else "req_" + secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        host = headers.get("host", "")
        if _host_name(host).lower() not in LOOPBACK_HOSTS:
            await self._reject(send_with_id, 400, "invalid_request", "Host header not allowed", rid)
            return
        origin = headers.get("origin")
        if (
            origin is not None
            and scope["method"] not in _SAFE_METHODS
            and origin not in self.allowed_origins
            and not _ORIGIN_RE.match(origin)
        ):
            await self._reject(send_with_id, 403, "forbidden", "Origin not allowed", rid)
            return
        if scope["method"] in _SAFE_METHODS:
            await self.app(scope, receive, send_with_id)
            return
        limit = self._limit(scope.get("path", ""))
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            status, code = (413, "payload_too_large") if length.isdigit() else (400, "invalid_request")
            await self._reject(send_with_id, status, code, f"request body over {limit} bytes", rid)
            return
        body = await self._read_body(receive, limit)
        if body is None:
            await self._reject(send_with_id, 413, "payload_too_large", f"request body over {limit} bytes", rid)
            return
        await self.app(scope, _replay(body, receive), send_with_id)

    async def _read_body(self, receive: Receive, limit: int) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    @staticmethod
    async def _reject(send: Send, status: int, code: str, message: str, rid: str) -> None:
        payload = json.dumps(error_body(code, message, rid)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
            }
        )
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
