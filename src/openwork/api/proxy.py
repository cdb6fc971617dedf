"""``/workspaces/{id}/opencode/...`` (reverse proxy) and ``/workspaces/{id}/events`` (opencode's SSE).

The caller authenticates to us; opencode's credentials are added by the gateway and never returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Path, Request
from starlette.background import BackgroundTask
from starlette.responses import StreamingResponse

from openwork.api.deps import Caller, Ctx
from openwork.constants import DEFAULT_SSE_KEEPALIVE
from openwork.errors import SupervisorError

__all__ = ["router"]

router = APIRouter(prefix="/workspaces", tags=["proxy"])

# Never forwarded: hop-by-hop headers, our own credentials, and what httpx recomputes.
_DROP_REQUEST = {
    "host",
    "connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "authorization",
    "x-openwork-host-token",
    "cookie",
    "content-length",
    "x-request-id",
    "origin",
    "referer",
}
# Never returned: hop-by-hop headers and anything about opencode's own authentication.
_DROP_RESPONSE = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "www-authenticate",
    "set-cookie",
    "x-request-id",
}
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


async def proxy(request: Request, ctx: Ctx, _caller: Caller, path: str, ws_id: str = Path(max_length=64)) -> Any:
    """Any opencode route, for this workspace's folder (the ``directory`` is set by the server)."""
    record = ctx.registry.get(ws_id)
    headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _DROP_REQUEST]
    body = await request.body()  # already read (and capped) by the guard middleware
    upstream = ctx.gateway.build(
        request.method,
        path,
        record.path,
        params=list(request.query_params.multi_items()),
        headers=headers,
        content=body or None,
    )
    response = await ctx.gateway.send(upstream, stream=True)
    out_headers = {k: v for k, v in response.headers.items() if k.lower() not in _DROP_RESPONSE}
    return StreamingResponse(
        response.aiter_raw(),
        status_code=response.status_code,
        headers=out_headers,
        background=BackgroundTask(response.aclose),
    )


for _method in _METHODS:  # one operation per method, so the OpenAPI document has unique operation ids
    router.add_api_route(
        "/{ws_id}/opencode/{path:path}", proxy, methods=[_method], operation_id=f"proxy_opencode_{_method.lower()}"
    )


@router.get("/{ws_id}/events", response_class=StreamingResponse)
async def workspace_events(ctx: Ctx, _caller: Caller, ws_id: str = Path(max_length=64)) -> StreamingResponse:
    """opencode's events for this workspace as SSE ``{type, properties}`` frames with an increasing ``id:``."""
    record = ctx.registry.get(ws_id)
    return StreamingResponse(
        _relay(ctx, record.path, DEFAULT_SSE_KEEPALIVE),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


async def _relay(ctx: Any, directory: str, keepalive: float) -> AsyncIterator[bytes]:
    ids = itertools.count(1)
    queue: asyncio.Queue[dict[str, Any] | Exception | None] = asyncio.Queue(maxsize=256)

    async def pump() -> None:
        try:
            async for event in ctx.gateway.events(directory):
                await queue.put(event)
            await queue.put(None)
        except SupervisorError as exc:
            await queue.put(exc)

    task = asyncio.create_task(pump())
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), keepalive)
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            if item is None:
                return
            if isinstance(item, Exception):
                payload = {"type": "openwork.stream_error", "properties": {"message": str(item)}}
                yield f"id: {next(ids)}\ndata: {json.dumps(payload)}\n\n".encode()
                return
            yield f"id: {next(ids)}\ndata: {json.dumps(item, separators=(',', ':'))}\n\n".encode()
    finally:
        # The client left (or the stream ended): stop reading from opencode too.
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
