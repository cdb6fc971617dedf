"""``/workspaces``: the registry, activation and disposal (plus the original daemon's aliases)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from openwork.api.context import AppContext
from openwork.api.deps import (
    AdminWorkspace,
    Caller,
    Ctx,
    Host,
    KnownWorkspace,
    Reader,
    ReadWorkspace,
    WorkspaceIdPath,
)
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
from openwork.auth.principal import NATIVE, PRINCIPAL_STATE_KEY
from openwork.workspaces.original import DaemonWorkspace, ProcessInfo, cli_version, opencode_process, server_process
from openwork.workspaces.registry import MAX_NAME_CHARS, MAX_PATH_CHARS, Workspace

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


class AddRemote(BaseModel):
    model_config = ConfigDict(extra="forbid")
    baseUrl: str = Field(min_length=1, max_length=2048, pattern=r"^\s*https?://\S+\s*$")
    directory: str | None = Field(default=None, max_length=MAX_PATH_CHARS)
    name: str | None = Field(default=None, max_length=MAX_NAME_CHARS)


class Rename(BaseModel):
    model_config = ConfigDict(extra="forbid")
    displayName: str = Field(min_length=1, max_length=MAX_NAME_CHARS)


@router.get("", response_model=Envelope[WorkspaceList])
async def list_workspaces(request: Request, ctx: Ctx, caller: Reader) -> Envelope[WorkspaceList] | JSONResponse:
    """What the caller may see: a limited token lists its workspaces only, and no other active id."""
    records, active = await ctx.workspaces.listing(caller.sees)
    if caller.native:
        current = next((w for w in records if w.id == active), None)
        return _original({"activeId": current.daemon_id if current else "", "workspaces": [_entry(w) for w in records]})
    items = [w.model() for w in records]
    return ok(request, WorkspaceList(items=items, workspaces=items, active_id=active))


@router.post("/local", status_code=201, response_model=Envelope[WorkspaceAdded])
async def add_local(request: Request, body: AddLocal, ctx: Ctx, _host: Host) -> Envelope[WorkspaceAdded]:
    """Register a folder. Registering it again returns the existing record (``created: false``)."""
    record, created = await ctx.workspaces.add(body.folderPath, body.name)
    return ok(request, WorkspaceAdded(workspace=record.model(), created=created))


@router.post("/remote", status_code=201, response_model=Envelope[WorkspaceAdded])
async def add_remote(
    request: Request, body: AddRemote, ctx: Ctx, _host: Host
) -> Envelope[WorkspaceAdded] | JSONResponse:
    """Register a remote workspace (the original daemon's ``add-remote``): listed, not served yet."""
    record, created = await ctx.workspaces.add_remote(body.baseUrl.strip(), body.directory, body.name)
    if _host.native:
        return await _added(ctx, record)
    return ok(request, WorkspaceAdded(workspace=record.model(), created=created))


@router.get("/{ws_id}", response_model=Envelope[WorkspaceResult])
async def get_workspace(
    request: Request, caller: Caller, record: KnownWorkspace
) -> Envelope[WorkspaceResult] | JSONResponse:
    if caller.native:
        return _original({"workspace": _entry(record)})
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
async def activate(
    request: Request, ctx: Ctx, caller: Caller, target: AdminWorkspace
) -> Envelope[WorkspaceActivated] | JSONResponse:
    """Make it the active workspace and warm opencode's instance for its folder."""
    record = await ctx.workspaces.activate(target.id)
    if caller.native:
        return _original({"activeId": record.daemon_id, "workspace": _entry(record)})
    return ok(request, WorkspaceActivated(workspace=record.model(), active_id=record.id))


@router.post("/{ws_id}/dispose", response_model=Envelope[WorkspaceDisposed])
async def dispose(
    request: Request, ctx: Ctx, caller: Caller, record: AdminWorkspace
) -> Envelope[WorkspaceDisposed] | JSONResponse:
    """Drop opencode's instance for the folder; the next request to it creates a fresh one."""
    disposed = await ctx.workspaces.dispose(record)
    if caller.native:
        return _original({"disposed": disposed})
    return ok(request, WorkspaceDisposed(workspace=record.model(), disposed=disposed))


# -- the original daemon's routes, kept for its desktop app and CLI --------------------------------
# Its native clients call them without credentials (openwork.auth.native) and get its shapes; a caller
# with a token gets ours.


def _entry(record: Workspace) -> dict[str, Any]:
    return DaemonWorkspace.of(record).entry()


def _original(payload: dict[str, Any]) -> JSONResponse:
    return JSONResponse(payload)


async def _added(ctx: AppContext, record: Workspace) -> JSONResponse:
    """The original's answer to an add: ``{activeId, workspace}`` (the first local one added becomes active)."""
    active = await ctx.workspaces.activate_if_none(record)
    return _original({"activeId": active.daemon_id if active else "", "workspace": _entry(record)})


@legacy_router.get("/health", response_model=Envelope[LegacyHealth])
async def legacy_health(request: Request, ctx: Ctx) -> Envelope[LegacyHealth] | JSONResponse:
    """The old daemon's health, public and without secrets: its native clients get its shape, anyone else
    our envelope."""
    active, count = await ctx.workspaces.counts()
    if request.scope.get("state", {}).get(PRINCIPAL_STATE_KEY) is NATIVE:
        current = await ctx.workspaces.get(active) if active else None
        return _original(
            {
                "ok": True,
                "daemon": server_process(pid=ctx.pid, url=ctx.url, started_at=ctx.started_at).wire(),
                "opencode": _maybe(opencode_process(ctx.stack)),
                "cliVersion": cli_version(ctx.version),
                "activeId": current.daemon_id if current else "",
                "workspaceCount": count,
            }
        )
    opencode = ctx.stack.opencode.status()
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


def _maybe(info: ProcessInfo | None) -> dict[str, Any] | None:
    return info.wire() if info else None


@legacy_router.post("/workspaces", status_code=201, response_model=Envelope[WorkspaceAdded])
async def legacy_add(
    request: Request, body: AddLegacy, ctx: Ctx, _host: Host
) -> Envelope[WorkspaceAdded] | JSONResponse:
    record, created = await ctx.workspaces.add(body.path, body.name)
    if _host.native:
        return await _added(ctx, record)
    return ok(request, WorkspaceAdded(workspace=record.model(), created=created))


@legacy_router.get("/workspaces/{ws_id}/path", response_model=Envelope[WorkspacePath])
async def legacy_path(
    request: Request, ctx: Ctx, caller: Caller, record: ReadWorkspace
) -> Envelope[WorkspacePath] | JSONResponse:
    if caller.native:  # the original answered opencode's own path info for the folder
        info = await ctx.gateway.call("GET", "/path", record.path)
        return _original({"workspace": _entry(record), "path": info})
    return ok(request, WorkspacePath(id=record.id, path=record.path))


@legacy_router.post("/instances/{ws_id}/dispose", response_model=Envelope[WorkspaceDisposed])
async def legacy_dispose(
    request: Request, ctx: Ctx, caller: Caller, record: AdminWorkspace
) -> Envelope[WorkspaceDisposed] | JSONResponse:
    return await dispose(request, ctx, caller, record)


@legacy_router.post("/shutdown", response_model=Envelope[ShutdownResult])
async def shutdown(request: Request, ctx: Ctx, _host: Host) -> Envelope[ShutdownResult] | JSONResponse:
    """Stop the server and everything it supervises, in order (host only)."""
    ctx.request_shutdown()
    if _host.native:
        return _original({"ok": True})
    return ok(request, ShutdownResult())
