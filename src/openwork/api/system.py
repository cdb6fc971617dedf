"""``/system/*``: health, status, opencode health, service events."""

from __future__ import annotations

import os
import time
from typing import Any

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import StreamingResponse

from openwork.api import v2view
from openwork.api.deps import Ctx, Host, Reader, UnlimitedReader
from openwork.api.envelope import Envelope, ok
from openwork.api.models.system import (
    Capabilities,
    Health,
    LogLine,
    LogPage,
    OpencodeHealth,
    RestartResult,
    RouterDisabled,
    RouterHealth,
    ServerInfo,
    ServicesSnapshot,
    SystemStatus,
)
from openwork.api.sse import event_stream, format_event
from openwork.auth.principal import Principal
from openwork.errors import NotFoundError
from openwork.supervisor.state import ServiceState
from openwork.supervisor.statusinfo import LastExitInfo, ServiceStatusInfo
from openwork.wire import iso

__all__ = ["router"]

router = APIRouter(prefix="/system", tags=["system"])


def _for(caller: Principal, info: ServiceStatusInfo) -> ServiceStatusInfo:
    """A service's status as ``caller`` may see it: its last output is its log, which only the host reads
    (``/system/logs``); a viewer or a workspace-limited token must not learn other workspaces from it."""
    return info if caller.is_host else info.without_output()


@router.get("/health", response_model=Envelope[Health])
async def health(request: Request, ctx: Ctx) -> Envelope[Health]:
    """Liveness of the server itself, and ``degraded``: resources near their limit. No authentication."""
    return ok(
        request,
        Health(
            version=ctx.version,
            degraded=await ctx.health.degraded(),
            started_at=iso(ctx.started_at),
            uptime_ms=v2view.uptime_ms(ctx),
            database=v2view.database_status(ctx, disclose=False),
        ),
    )


@router.get("/capabilities", response_model=Envelope[Capabilities])
async def capabilities(request: Request, caller: Reader) -> Envelope[Capabilities]:
    """What this server implements of the V2 contract, and how it authenticates the caller."""
    return ok(request, v2view.capabilities(caller))


@router.get("/status", response_model=Envelope[SystemStatus])
async def status(request: Request, ctx: Ctx, caller: Reader) -> Envelope[SystemStatus]:
    statuses = ctx.stack.statuses()
    unlimited = caller.workspaces is None
    server = ServerInfo(
        version=ctx.version,
        pid=os.getpid(),
        run_id=ctx.config.run_id,
        url=ctx.url,
        started_at=ctx.started_at,
        uptime_seconds=round(time.time() - ctx.started_at, 3),
        # The folder it was started in is a workspace too; a limited token does not learn it.
        workspace=str(ctx.config.workspace) if unlimited else None,
    )
    return ok(
        request,
        SystemStatus(
            healthy=all(s.state is ServiceState.RUNNING for s in statuses if s.required),
            server=server,
            services=[_for(caller, s.model()) for s in statuses],
            version=ctx.version,
            environment="production",
            started_at=iso(ctx.started_at),
            uptime_ms=v2view.uptime_ms(ctx),
            auth=v2view.auth_summary(caller),
            capabilities=v2view.capabilities(caller),
            database=v2view.database_status(ctx, disclose=caller.is_host),
            registry=await v2view.registry_summary(ctx, caller),
            runtime=v2view.runtime_view(ctx),
        ),
    )


@router.get("/opencode/health", response_model=Envelope[OpencodeHealth])
async def opencode_health(request: Request, ctx: Ctx, caller: Reader) -> Envelope[OpencodeHealth]:
    probed = await ctx.health.opencode()
    v2 = v2view.opencode_health(ctx, output=caller.is_host)
    status = _for(caller, probed.status.model())
    return ok(request, OpencodeHealth(**{**dict(v2), **dict(status)}, healthy=probed.healthy))


@router.get("/router/health", response_model=Envelope[RouterHealth | RouterDisabled])
async def router_health(request: Request, ctx: Ctx, caller: Reader) -> Envelope[RouterHealth | RouterDisabled]:
    """The router's state and its own health answer; ``enabled: false`` when it is not part of the stack."""
    probed = await ctx.health.router()
    if probed is None:
        return ok(request, RouterDisabled())
    status = _for(caller, probed.status.model())
    return ok(request, RouterHealth(**dict(status), healthy=probed.healthy, health=probed.answer))


@router.get("/logs", response_model=Envelope[LogPage])
async def logs(
    request: Request,
    ctx: Ctx,
    _host: Host,
    after: int = Query(default=0, ge=0),
    service: str | None = Query(default=None, max_length=64),
    limit: int = Query(default=500, ge=1, le=5000),
) -> Envelope[LogPage]:
    """The unified log stream (redacted; the last 800 lines per service), lines with ``seq > after``."""
    entries = ctx.stack.hub.entries(after=after, service=service, limit=limit)
    return ok(request, LogPage(items=[LogLine.of(e) for e in entries], last=entries[-1].seq if entries else after))


@router.post("/services/{name}/restart", response_model=Envelope[RestartResult])
async def restart_service(
    request: Request, ctx: Ctx, _host: Host, name: str = Path(max_length=64)
) -> Envelope[RestartResult]:
    """Restart one supervised service (the dashboard's `r`). ``outcome`` says what the request did
    (restarting, cut_backoff, already_starting, revived, stopped, not_started): it is never ignored."""
    service = next((s for s in ctx.stack.services if s.name == name), None)
    if service is None:
        raise NotFoundError(f"no service named {name!r}")
    outcome = await service.restart()
    return ok(request, RestartResult(outcome=outcome, service=service.status().model()))


@router.get("/events", response_class=StreamingResponse)
async def events(ctx: Ctx, caller: UnlimitedReader) -> StreamingResponse:
    """SSE of service state changes; starts with a snapshot of every service. It carries every
    workspace's events, so a token limited to some workspaces cannot open it; the last exits' lines in
    it are the host's only (as everywhere)."""
    sub = ctx.bus.subscribe()
    snapshot = ServicesSnapshot(services=[_for(caller, s.model()) for s in ctx.stack.statuses()])
    initial = [format_event(event="snapshot", data=snapshot.wire())]
    return event_stream(sub, initial=initial, streams=ctx.streams, scrub=None if caller.is_host else _no_exit_lines)


def _no_exit_lines(message: dict[str, Any]) -> dict[str, Any]:
    """A bus event as a caller other than the host sees it: a service's last exit without its lines."""
    data = message.get("data")
    exit_info = data.get("lastExit") if isinstance(data, dict) else None
    if isinstance(exit_info, dict) and isinstance(data, dict):
        shown = LastExitInfo.model_validate(exit_info).without_output().wire()
        message = {**message, "data": {**data, "lastExit": shown}}
    return message
