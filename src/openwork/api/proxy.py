"""``/workspaces/{id}/opencode/...`` (reverse proxy) and ``/workspaces/{id}/events`` (opencode's SSE).

The caller authenticates to us; opencode's credentials are added by the gateway and never returned.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Path, Request
from starlette.background import BackgroundTask

from openwork.api.deps import Caller, Ctx, ReadWorkspace, visible_workspace
from openwork.api.sse import SSE_HEADERS, relay_opencode_events
from openwork.api.streams import RelayResponse
from openwork.auth.principal import Principal
from openwork.proxy.forward import Approve, opencode_raw_path, upstream_request
from openwork.proxy.policy import Operation

__all__ = ["router"]

router = APIRouter(prefix="/workspaces", tags=["proxy"])

# Never forwarded: hop-by-hop headers (RFC 9110 7.6.1; also any named in ``Connection``), our own
# credentials, and what httpx recomputes.
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
    "date",  # uvicorn sends its own
}
_METHODS = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"]
_APPROVAL_SUMMARY_BYTES = 200  # of the request body shown to the host (the command and its arguments)


async def proxy(request: Request, ctx: Ctx, caller: Caller, path: str, ws_id: str = Path(max_length=64)) -> Any:
    """Any opencode operation the caller's token allows (``openwork.proxy.table``), pinned to this
    workspace's folder in every form opencode takes a directory."""
    del path  # the decoded path; the policy reads the raw one
    record = await asyncio.to_thread(visible_workspace, ctx, caller, ws_id)  # a SQLite read
    upstream = await upstream_request(
        gateway=ctx.gateway,
        sessions=ctx.sessions,
        principal=caller,
        workspace_path=record.path,
        method=request.method,
        raw_path=opencode_raw_path(request.scope.get("raw_path") or request.url.path.encode(), ws_id),
        query=request.query_params.multi_items(),
        headers=_forwarded_headers(request),
        body=request.stream() if _has_body(request) else None,  # counted against --proxy-max-body by the guard
        approve=_process_approval(ctx, caller, record.id),
        protected=ctx.files.protected,
    )
    response = await ctx.gateway.send(upstream, stream=True)
    dropped = _DROP_RESPONSE | _named_in_connection(response.headers.get_list("connection"))
    # opencode's own CORS answer is not ours to give: --cors decides (api/app.py), for every route alike.
    out_headers = {
        k: v
        for k, v in response.headers.items()
        if k.lower() not in dropped and not k.lower().startswith("access-control-")
    }
    return RelayResponse(  # ends with its client or (an event stream) the server; closes the upstream
        response.aiter_raw(),
        status_code=response.status_code,
        headers=out_headers,
        background=BackgroundTask(response.aclose),
        streams=ctx.streams,
    )


def _forwarded_headers(request: Request) -> list[tuple[str, str]]:
    """The caller's headers minus hop-by-hop ones and ours. ``Accept-Encoding`` passes as it is; none is
    added (the upstream request drops httpx's default too), so a caller gets the encoding it asked for."""
    dropped = _DROP_REQUEST | _named_in_connection(request.headers.getlist("connection"))
    return [(k, v) for k, v in request.headers.items() if k.lower() not in dropped]


def _has_body(request: Request) -> bool:
    """HTTP/1.1 frames a body by Content-Length or Transfer-Encoding only (RFC 9112 6.3)."""
    return request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers


def _returned(name: str, dropped: set[str]) -> bool:
    return name not in dropped and not name.startswith("access-control-")


def _named_in_connection(values: list[str]) -> set[str]:
    """Header names a ``Connection`` header declares hop-by-hop (RFC 9110 7.6.1)."""
    return {name.strip().lower() for value in values for name in value.split(",") if name.strip()}


def _process_approval(ctx: Any, caller: Principal, workspace_id: str) -> Approve | None:
    """In ``--approval manual`` a minted token's terminal or shell command waits for the host, like a
    file write does: the proxy must not be a way around the approval gate."""
    if ctx.approvals.mode != "manual" or not caller.is_minted:
        return None

    async def approve(op: Operation, body: bytes) -> None:
        summary = body[:_APPROVAL_SUMMARY_BYTES].decode("utf-8", "replace")
        await ctx.approvals.require(
            workspace_id=workspace_id,
            who=caller.subject,
            action="process",
            paths=[{"path": f"{op.method} {op.template} {summary}".strip(), "size": len(body)}],
        )

    return approve


for _method in _METHODS:  # one operation per method, so the OpenAPI document has unique operation ids
    router.add_api_route(
        "/{ws_id}/opencode/{path:path}", proxy, methods=[_method], operation_id=f"proxy_opencode_{_method.lower()}"
    )


@router.get("/{ws_id}/events", response_class=RelayResponse)
async def workspace_events(ctx: Ctx, record: ReadWorkspace) -> RelayResponse:
    """opencode's events for this workspace as SSE ``{type, properties}`` frames with an increasing ``id:``
    (a token limited to other workspaces gets the same 404 as for an unknown id)."""
    return RelayResponse(
        relay_opencode_events(ctx.gateway, record.path),
        media_type="text/event-stream",
        headers=SSE_HEADERS,
        streams=ctx.streams,
    )
