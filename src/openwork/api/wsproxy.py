"""WebSocket upgrades through ``/workspaces/{id}/opencode/...`` (opencode's terminal: ``pty/{id}/connect``).

The same rules as the HTTP proxy (``openwork.proxy.forward``): the caller's token (headers only: a secret
never travels in a URL), the operation's scope, the workspace pinning and session ownership, all decided
before opencode is contacted; a refusal rejects the handshake (HTTP 403). Then frames are relayed both
ways: either side closing closes the other with its code; no frame either way for ``WS_IDLE_TIMEOUT``
closes both; a frame larger than ``WS_MAX_MESSAGE`` from either side closes the connection (1009).
"""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from openwork.api.context import AppContext
from openwork.api.deps import visible_workspace
from openwork.auth.principal import authenticate
from openwork.errors import OpenworkError
from openwork.logging import get_logger
from openwork.proxy.forward import opencode_raw_path, upstream_request

__all__ = ["WS_IDLE_TIMEOUT", "WS_MAX_MESSAGE", "WS_OPEN_TIMEOUT", "router"]

log = get_logger("openwork.proxy")

router = APIRouter(prefix="/workspaces")

WS_IDLE_TIMEOUT = 600.0  # seconds without a frame either way before both sides are closed
WS_MAX_MESSAGE = 1024 * 1024  # bytes per frame, each way (terminal input and output come in small frames)
WS_OPEN_TIMEOUT = 10.0  # opencode's side of the handshake
_POLICY_VIOLATION = 1008
_GOING_AWAY = 1001


@router.websocket("/{ws_id}/opencode/{path:path}")
async def proxy_websocket(websocket: WebSocket, ws_id: str, path: str) -> None:
    del path  # the decoded path; the policy reads the raw one
    ctx: AppContext = websocket.app.state.ctx
    try:
        target, headers = await _authorised_target(ctx, websocket, ws_id)
    except OpenworkError as exc:
        log.info("proxy.websocket_refused", reason=exc.message, code=exc.code)
        await websocket.close(code=_POLICY_VIOLATION, reason=exc.code)  # before accept: HTTP 403
        return
    try:
        upstream = await connect(
            target, additional_headers=headers, max_size=WS_MAX_MESSAGE, open_timeout=WS_OPEN_TIMEOUT, proxy=None
        )
    except (OSError, TimeoutError, InvalidHandshake) as exc:
        status = exc.response.status_code if isinstance(exc, InvalidStatus) else None
        log.warning("proxy.websocket_upstream_failed", error=type(exc).__name__, status=status)
        await websocket.close(code=_POLICY_VIOLATION if status in (401, 403, 404) else 1011)
        return
    try:
        await websocket.accept()
        await _relay(websocket, upstream)
    finally:
        await upstream.close()  # idempotent; ends the connection on every path


async def _authorised_target(ctx: AppContext, websocket: WebSocket, ws_id: str) -> tuple[str, list[tuple[str, str]]]:
    caller = authenticate(
        authorization=websocket.headers.get("authorization"),
        host_header_token=websocket.headers.get("x-openwork-host-token"),
        credentials=ctx.credentials,
        tokens=ctx.tokens,
    )
    record = await asyncio.to_thread(visible_workspace, ctx, caller, ws_id)  # a SQLite read
    raw = websocket.scope.get("raw_path") or websocket.url.path.encode()
    request = await upstream_request(
        gateway=ctx.gateway,
        sessions=ctx.sessions,
        principal=caller,
        workspace_path=record.path,
        method="GET",
        raw_path=opencode_raw_path(raw, ws_id),
        query=websocket.query_params.multi_items(),
        headers=[],  # opencode gets its credentials and the pinned directory from the gateway, nothing else
        body=None,
        protected=ctx.files.protected,
    )
    return ctx.gateway.websocket_target(request)


async def _relay(client: WebSocket, upstream: ClientConnection) -> None:
    """Frames both ways until one side closes (the other gets its code) or nothing moves for the idle time."""
    loop = asyncio.get_running_loop()
    closed_by: dict[str, int] = {}
    with contextlib.suppress(TimeoutError):  # idle: both sides are closed below with 1001
        await _pump(client, upstream, loop, closed_by)
    code = closed_by.get("client") or closed_by.get("upstream") or _GOING_AWAY
    await upstream.close(code=_sendable(code))
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):  # the client may be gone already
        await client.close(code=_sendable(code))


async def _pump(
    client: WebSocket, upstream: ClientConnection, loop: asyncio.AbstractEventLoop, closed_by: dict[str, int]
) -> None:
    async with asyncio.timeout(WS_IDLE_TIMEOUT) as idle:

        def active() -> None:
            idle.reschedule(loop.time() + WS_IDLE_TIMEOUT)

        async def from_client() -> None:
            while True:
                message = await client.receive()
                if message["type"] == "websocket.disconnect":
                    closed_by["client"] = int(message.get("code") or 1000)
                    return
                data = message.get("bytes") if message.get("bytes") is not None else message.get("text")
                if isinstance(data, bytes | str):
                    if len(data) > WS_MAX_MESSAGE:
                        closed_by["client"] = 1009
                        return
                    active()
                    await upstream.send(data)

        async def from_upstream() -> None:
            try:
                async for data in upstream:
                    active()
                    await (client.send_bytes(data) if isinstance(data, bytes) else client.send_text(data))
            except ConnectionClosed:
                pass
            closed_by["upstream"] = upstream.close_code or 1000

        tasks = [asyncio.create_task(from_client()), asyncio.create_task(from_upstream())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def _sendable(code: int) -> int:
    """A close code a peer may send (1005, 1006 and 1015 are only ever reported, never sent)."""
    return 1000 if code in (1005, 1006, 1015) else code
