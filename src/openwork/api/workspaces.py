"""``/workspaces``: the registry, activation and disposal (plus the original daemon's aliases)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from openwork.api.deps import AdminWorkspace, Ctx, Host, Reader, ReadWorkspace, WorkspaceIdPath
from openwork.api.envelope import Envelope, ok
from openwork.api.models.workspaces import (
    DaemonInfo,
    LegacyHealth,
    OpencodeInfo,
    ShutdownResult,
    WorkspaceActivated,
    WorkspaceAdded,
    WorkspaceDisposed,
    WorkspaceList,
    WorkspacePath,
    WorkspaceRemoved,
    WorkspaceResult,
)
from openwork.workspaces.registry import MAX_NAME_CHARS, MAX_PATH_CHARS

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


@router.get("", response_model=Envelope[WorkspaceList])
async def list_workspaces(request: Request, ctx: Ctx, caller: Reader) -> Envelope[WorkspaceList]:
    """What the caller may see: a limited token lists its workspaces only, and no other active id."""
    records, active = await ctx.workspaces.listing(caller.sees)
    items = [w.model() for w in records]
    return ok(request, WorkspaceList(items=items, workspaces=items, active_id=active))


@router.post("/local", status_code=201, response_model=Envelope[WorkspaceAdded])
async def add_local(request: Request, body: AddLocal, ctx: Ctx, _host: Host) -> Envelope[WorkspaceAdded]:
    """Register a folder. Registering it again returns the existing record (``created: false``)."""
    record, created = await ctx.workspaces.add(body.folderPath, body.name)
    return ok(request, WorkspaceAdded(workspace=record.model(), created=created))


@router.get("/{ws_id}", response_model=Envelope[WorkspaceResult])
async def get_workspace(request: Request, record: ReadWorkspace) -> Envelope[WorkspaceResult]:
    return ok(request, WorkspaceResult(workspace=record.model()))


@router.patch("/{ws_id}", response_model=Envelope[WorkspaceResult])
async def rename(
    request: Request, body: Rename, ctx: Ctx, _host: Host, ws_id: str = WorkspaceId
) -> Envelope[WorkspaceResult]:
    record = await ctx.workspaces.rename(ws_id, body.displayName)
    return ok(request, WorkspaceResult(workspace=record.model()))


@router.delete("/{ws_id}", response_model=Envelope[WorkspaceRemoved])
async def remove(request: Request, ctx: Ctx, _host: Host, ws_id: str = WorkspaceId) -> Envelope[WorkspaceRemoved]:
    """Forget the workspace. Its folder and files are left exactly as they are."""
    record = await ctx.workspaces.remove(ws_id)
    return ok(request, WorkspaceRemoved(workspace=record.model()))


@router.post("/{ws_id}/activate", response_model=Envelope[WorkspaceActivated])
async def activate(request: Request, ctx: Ctx, target: AdminWorkspace) -> Envelope[WorkspaceActivated]:
    """Make it the active workspace and warm opencode's instance for its folder."""
    record = await ctx.workspaces.activate(target.id)
    return ok(request, WorkspaceActivated(workspace=record.model(), active_id=record.id))


@router.post("/{ws_id}/dispose", response_model=Envelope[WorkspaceDisposed])
async def dispose(request: Request, ctx: Ctx, record: AdminWorkspace) -> Envelope[WorkspaceDisposed]:
    """Drop opencode's instance for the folder; the next request to it creates a fresh one."""
    disposed = await ctx.workspaces.dispose(record)
    return ok(request, WorkspaceDisposed(workspace=record.model(), disposed=disposed))


# -- the original daemon's routes, kept for its desktop app and CLI --------------------------------


@legacy_router.get("/health", response_model=Envelope[LegacyHealth])
async def legacy_health(request: Request, ctx: Ctx) -> Envelope[LegacyHealth]:
    """The old daemon's health: no authentication, no secrets."""
    opencode = ctx.stack.opencode.status()
    active, count = await ctx.workspaces.counts()
    return ok(
        request,
        LegacyHealth(
            daemon=DaemonInfo(pid=ctx.pid, url=ctx.url),
            opencode=OpencodeInfo(state=opencode.state.value, url=ctx.stack.driver.url),
            cli_version=ctx.version,
            active_id=active,
            workspace_count=count,
        ),
    )


@legacy_router.post("/workspaces", status_code=201, response_model=Envelope[WorkspaceAdded])
async def legacy_add(request: Request, body: AddLegacy, ctx: Ctx, _host: Host) -> Envelope[WorkspaceAdded]:
    record, created = await ctx.workspaces.add(body.path, body.name)
    return ok(request, WorkspaceAdded(workspace=record.model(), created=created))


@legacy_router.get("/workspaces/{ws_id}/path", response_model=Envelope[WorkspacePath])
async def legacy_path(request: Request, record: ReadWorkspace) -> Envelope[WorkspacePath]:
    return ok(request, WorkspacePath(id=record.id, path=record.path))


@legacy_router.post("/instances/{ws_id}/dispose", response_model=Envelope[WorkspaceDisposed])
async def legacy_dispose(request: Request, ctx: Ctx, record: AdminWorkspace) -> Envelope[WorkspaceDisposed]:
    return await dispose(request, ctx, record)


@legacy_router.post("/shutdown", response_model=Envelope[ShutdownResult])
async def shutdown(request: Request, ctx: Ctx, _host: Host) -> Envelope[ShutdownResult]:
    """Stop the server and everything it supervises, in order (host only)."""
    ctx.request_shutdown()
    return ok(request, ShutdownResult())
