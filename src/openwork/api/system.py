"""``/system/*``: health, status, opencode health, service events."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import StreamingResponse

from openwork.api.deps import Ctx, Host, Reader, UnlimitedReader
from openwork.api.envelope import Envelope, ok
from openwork.api.sse import event_stream, format_event
from openwork.errors import NotFoundError
from openwork.runtime.pressure import degraded

__all__ = ["router"]

router = APIRouter(prefix="/system", tags=["system"])


def _opencode(ctx: Any) -> dict[str, Any]:
    return dict(ctx.stack.opencode.status().to_json())


@router.get("/health", response_model=Envelope[dict[str, Any]])
async def health(request: Request, ctx: Ctx) -> dict[str, Any]:
    """Liveness of the server itself, and ``degraded``: resources near their limit. No authentication."""
    pressure = await asyncio.to_thread(degraded, opencode_port=ctx.stack.driver.port)
    return ok(request, {"status": "ok", "version": ctx.version, "degraded": pressure})


@router.get("/status", response_model=Envelope[dict[str, Any]])
async def status(request: Request, ctx: Ctx, caller: Reader) -> dict[str, Any]:
    services = [s.to_json() for s in ctx.stack.statuses()]
    healthy = all(s["state"] == "running" for s in services if s["required"])
    return ok(
        request,
        {
            "healthy": healthy,
            "server": {
                "version": ctx.version,
                "pid": os.getpid(),
                "runId": ctx.config.run_id,
                "url": ctx.url,
                "startedAt": ctx.started_at,
                "uptimeSeconds": round(time.time() - ctx.started_at, 3),
                # The folder it was started in is a workspace too; a limited token does not learn it.
                "workspace": str(ctx.config.workspace) if caller.workspaces is None else None,
            },
            "services": services,
        },
    )


@router.get("/opencode/health", response_model=Envelope[dict[str, Any]])
async def opencode_health(request: Request, ctx: Ctx, _reader: Reader) -> dict[str, Any]:
    data = _opencode(ctx)
    data["healthy"] = data["state"] == "running" and await ctx.stack.driver.healthy()
    return ok(request, data)


@router.get("/router/health", response_model=Envelope[dict[str, Any]])
async def router_health(request: Request, ctx: Ctx, _reader: Reader) -> dict[str, Any]:
    """The router's state and its own health answer; ``enabled: false`` when it is not part of the stack."""
    if ctx.stack.router is None or ctx.stack.router_driver is None:
        return ok(request, {"enabled": False, "healthy": False, "state": "disabled", "status": "disabled"})
    status = ctx.stack.router.status().to_json()
    answer = await ctx.stack.router_driver.health() if status["state"] == "running" else None
    return ok(request, {"enabled": True, "healthy": answer is not None, **status, "health": answer})


@router.get("/logs", response_model=Envelope[dict[str, Any]])
async def logs(
    request: Request,
    ctx: Ctx,
    _host: Host,
    after: int = Query(default=0, ge=0),
    service: str | None = Query(default=None, max_length=64),
    limit: int = Query(default=500, ge=1, le=5000),
) -> dict[str, Any]:
    """The unified log stream (redacted; the last 800 lines per service), lines with ``seq > after``."""
    entries = ctx.stack.hub.entries(after=after, service=service, limit=limit)
    return ok(request, {"items": [e.to_json() for e in entries], "last": entries[-1].seq if entries else after})


@router.post("/services/{name}/restart", response_model=Envelope[dict[str, Any]])
async def restart_service(request: Request, ctx: Ctx, _host: Host, name: str = Path(max_length=64)) -> dict[str, Any]:
    """Restart one supervised service (the dashboard's `r`). ``outcome`` says what the request did
    (restarting, cut_backoff, already_starting, revived, stopped, not_started): it is never ignored."""
    service = next((s for s in ctx.stack.services if s.name == name), None)
    if service is None:
        raise NotFoundError(f"no service named {name!r}")
    outcome = await service.restart()
    return ok(request, {"outcome": outcome.value, "service": service.status().to_json()})


@router.get("/events", response_class=StreamingResponse)
async def events(ctx: Ctx, _reader: UnlimitedReader) -> StreamingResponse:
    """SSE of service state changes; starts with a snapshot of every service. It carries every
    workspace's events, so a token limited to some workspaces cannot open it."""
    sub = ctx.bus.subscribe()
    snapshot = format_event(event="snapshot", data={"services": [s.to_json() for s in ctx.stack.statuses()]})
    return event_stream(sub, initial=[snapshot], streams=ctx.streams)
