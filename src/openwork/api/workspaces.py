"""``/workspaces``: the registry, activation and disposal (plus the original daemon's aliases)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from openwork.api.deps import AdminWorkspace, Ctx, Host, Reader, ReadWorkspace, WorkspaceIdPath
from openwork.api.envelope import Envelope, ok
from openwork.auth.principal import Principal
from openwork.workspaces.registry import MAX_NAME_CHARS, MAX_PATH_CHARS, Workspace, validate_folder

__all__ = ["legacy_router", "router"]

router = APIRouter(prefix="/workspaces", tags=["workspaces"])
legacy_router = APIRouter(tags=["legacy"])

WorkspaceId = WorkspaceIdPath  # for the host-only routes; the others take the id through a dependency


class AddLocal(BaseModel):
    model_config = ConfigDict(extra="forbid")
    folderPath: str = Field(min_length=1, max_length=MAX_PATH_CHARS)
    name: str | None = Field(default=None, max_length=MAX_NAME_CHARS)


class AddLegacy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(min_length=1, max_length=MAX_PATH_CHARS)
    name: str | None = Field(default=None, max_length=MAX_NAME_CHARS)


class Rename(BaseModel):
    model_config = ConfigDict(extra="forbid")
    displayName: str = Field(min_length=1, max_length=MAX_NAME_CHARS)


async def _add(ctx: Any, folder_path: str, name: str | None) -> tuple[Workspace, bool]:
    folder = await asyncio.to_thread(validate_folder, folder_path)
    record, created = ctx.registry.add(folder, name)
    if created:
        ctx.bus.publish("workspace.added", {"workspace": record.to_json()})
    return record, created


def _listing(ctx: Any, principal: Principal) -> dict[str, Any]:
    """What the caller may see: a limited token lists its workspaces only, and no other active id."""
    items = [w.to_json() for w in ctx.registry.list() if principal.sees(w.id)]
    active = ctx.registry.active_id()
    return {"items": items, "workspaces": items, "activeId": active if active and principal.sees(active) else None}


@router.get("", response_model=Envelope[dict[str, Any]])
async def list_workspaces(request: Request, ctx: Ctx, caller: Reader) -> dict[str, Any]:
    return ok(request, _listing(ctx, caller))


@router.post("/local", status_code=201, response_model=Envelope[dict[str, Any]])
async def add_local(request: Request, body: AddLocal, ctx: Ctx, _host: Host) -> dict[str, Any]:
    """Register a folder. Registering it again returns the existing record (``created: false``)."""
    record, created = await _add(ctx, body.folderPath, body.name)
    return ok(request, {"workspace": record.to_json(), "created": created})


@router.get("/{ws_id}", response_model=Envelope[dict[str, Any]])
async def get_workspace(request: Request, record: ReadWorkspace) -> dict[str, Any]:
    return ok(request, {"workspace": record.to_json()})


@router.patch("/{ws_id}", response_model=Envelope[dict[str, Any]])
async def rename(request: Request, body: Rename, ctx: Ctx, _host: Host, ws_id: str = WorkspaceId) -> dict[str, Any]:
    record = ctx.registry.rename(ws_id, body.displayName)
    ctx.bus.publish("workspace.updated", {"workspace": record.to_json()})
    return ok(request, {"workspace": record.to_json()})


@router.delete("/{ws_id}", response_model=Envelope[dict[str, Any]])
async def remove(request: Request, ctx: Ctx, _host: Host, ws_id: str = WorkspaceId) -> dict[str, Any]:
    """Forget the workspace. Its folder and files are left exactly as they are."""
    record = ctx.registry.remove(ws_id)
    ctx.bus.publish("workspace.removed", {"id": record.id})
    return ok(request, {"workspace": record.to_json(), "removed": True})


@router.post("/{ws_id}/activate", response_model=Envelope[dict[str, Any]])
async def activate(request: Request, ctx: Ctx, target: AdminWorkspace) -> dict[str, Any]:
    """Make it the active workspace and warm opencode's instance for its folder."""
    record = ctx.registry.activate(target.id)
    await ctx.gateway.call("GET", "/path", record.path)
    ctx.bus.publish("workspace.activated", {"id": record.id})
    return ok(request, {"workspace": record.to_json(), "activeId": record.id})


@router.post("/{ws_id}/dispose", response_model=Envelope[dict[str, Any]])
async def dispose(request: Request, ctx: Ctx, record: AdminWorkspace) -> dict[str, Any]:
    """Drop opencode's instance for the folder; the next request to it creates a fresh one."""
    result = await ctx.gateway.call("POST", "/instance/dispose", record.path)
    ctx.bus.publish("workspace.disposed", {"id": record.id})
    return ok(request, {"workspace": record.to_json(), "disposed": result is True})


# -- the original daemon's routes, kept for its desktop app and CLI --------------------------------


@legacy_router.get("/health", response_model=Envelope[dict[str, Any]])
async def legacy_health(request: Request, ctx: Ctx) -> dict[str, Any]:
    """The old daemon's health: no authentication, no secrets."""
    opencode = ctx.stack.opencode.status()
    return ok(
        request,
        {
            "ok": True,
            "daemon": {"pid": ctx.pid, "url": ctx.url},
            "opencode": {"state": opencode.state.value, "url": ctx.stack.driver.url},
            "cliVersion": ctx.version,
            "activeId": ctx.registry.active_id(),
            "workspaceCount": len(ctx.registry.list()),
        },
    )


@legacy_router.post("/workspaces", status_code=201, response_model=Envelope[dict[str, Any]])
async def legacy_add(request: Request, body: AddLegacy, ctx: Ctx, _host: Host) -> dict[str, Any]:
    record, created = await _add(ctx, body.path, body.name)
    return ok(request, {"workspace": record.to_json(), "created": created})


@legacy_router.get("/workspaces/{ws_id}/path", response_model=Envelope[dict[str, Any]])
async def legacy_path(request: Request, record: ReadWorkspace) -> dict[str, Any]:
    return ok(request, {"id": record.id, "path": record.path})


@legacy_router.post("/instances/{ws_id}/dispose", response_model=Envelope[dict[str, Any]])
async def legacy_dispose(request: Request, ctx: Ctx, record: AdminWorkspace) -> dict[str, Any]:
    return await dispose(request, ctx, record)


@legacy_router.post("/shutdown", response_model=Envelope[dict[str, Any]])
async def shutdown(request: Request, ctx: Ctx, _host: Host) -> dict[str, Any]:
    """Stop the server and everything it supervises, in order (host only)."""
    ctx.request_shutdown()
    return ok(request, {"stopping": True})
