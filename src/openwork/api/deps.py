"""Auth dependencies for routes: who is calling, and what that caller may reach (shared/DESIGN.md 2c).

``visible_workspace`` and ``require`` are plain functions so code that is not a route signature (the
opencode proxy) applies the same rules; the ``Annotated`` aliases below wrap them for route signatures.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, Path, Request

from openwork.api.context import AppContext
from openwork.auth.principal import PRINCIPAL_STATE_KEY, Access, Principal, authenticate
from openwork.errors import ForbiddenError, NotFoundError
from openwork.workspaces.registry import MAX_PATH_CHARS, Workspace

__all__ = [
    "UNKNOWN_WORKSPACE",
    "AdminWorkspace",
    "Caller",
    "Ctx",
    "Host",
    "KnownWorkspace",
    "ReadWorkspace",
    "Reader",
    "UnlimitedReader",
    "WorkspaceIdPath",
    "administered_workspace",
    "context",
    "readable_workspace",
    "require",
    "visible_workspace",
]

# The registry's own answer for an unknown id; a workspace hidden from the caller answers exactly this.
UNKNOWN_WORKSPACE = "no such workspace"
_NEEDED = {Access.READ: "viewer", Access.ACT: "collaborator", Access.ADMIN: "owner"}

WorkspaceIdPath = Path(
    min_length=1,
    max_length=MAX_PATH_CHARS * 3,  # a percent-encoded folder path
    description="a workspace id (ws_… or the original daemon's ws-…), its folder path, or its unique name",
)


# Dependencies are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in a worker thread,
# and these are a few microseconds of work each, far less than the hop to the thread and back.
async def context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(context)]


async def caller(request: Request, ctx: Ctx) -> Principal:
    # A request with a body was authenticated by the guard before its body was read; not twice.
    stashed = request.scope.get("state", {}).get(PRINCIPAL_STATE_KEY)
    if isinstance(stashed, Principal):
        return stashed
    # The two headers are read here, not declared as ``Header()`` parameters: FastAPI would build a
    # validator for each on every route that authenticates (CPU spent while opencode boots), and they
    # were kept out of the OpenAPI schema anyway.
    return authenticate(
        authorization=request.headers.get("authorization"),
        host_header_token=request.headers.get("x-openwork-host-token"),
        credentials=ctx.credentials,
        tokens=ctx.tokens,
    )


Caller = Annotated[Principal, Depends(caller)]


async def host_only(principal: Caller) -> Principal:
    if not principal.is_host:
        raise ForbiddenError("this route needs the host token")
    return principal


Host = Annotated[Principal, Depends(host_only)]


def require(principal: Principal, access: Access) -> None:
    """Raise ``ForbiddenError`` unless the caller's scope grants ``access``."""
    if not principal.allows(access):
        raise ForbiddenError(
            f"this route needs a {_NEEDED[access]} token or higher; this token's scope is {principal.scope}"
        )


def visible_workspace(ctx: AppContext, principal: Principal, ws_id: str, *, local: bool = True) -> Workspace:
    """The workspace ``ws_id`` names (an id of either scheme, a folder path or a unique name), if the
    caller may see it; ``local``: one served here (a remote workspace is a 409).

    A workspace outside a limited token's set raises the same ``NotFoundError`` as an unknown id, so a
    limited token cannot tell the two apart. The check is on the record's canonical id, whatever
    spelling of the id the registry accepted.
    """
    record = ctx.registry.lookup(ws_id, principal.sees)
    if not principal.sees(record.id):
        raise NotFoundError(UNKNOWN_WORKSPACE)
    return record.require_local() if local else record


async def reader(principal: Caller) -> Principal:
    require(principal, Access.READ)
    return principal


Reader = Annotated[Principal, Depends(reader)]


async def unlimited_reader(principal: Caller) -> Principal:
    """For what spans every workspace (the server-wide event stream): not for a limited token."""
    require(principal, Access.READ)
    if principal.workspaces is not None:
        raise ForbiddenError("this route spans every workspace; a token limited to workspaces cannot use it")
    return principal


UnlimitedReader = Annotated[Principal, Depends(unlimited_reader)]


async def readable_workspace(ctx: Ctx, principal: Caller, ws_id: str = WorkspaceIdPath) -> Workspace:
    """``{ws_id}`` for a route that reads it: visible to the caller, viewer or higher."""
    record = await asyncio.to_thread(visible_workspace, ctx, principal, ws_id)  # a SQLite read
    require(principal, Access.READ)
    return record


ReadWorkspace = Annotated[Workspace, Depends(readable_workspace)]


async def known_workspace(ctx: Ctx, principal: Caller, ws_id: str = WorkspaceIdPath) -> Workspace:
    """``{ws_id}`` for a route that describes it: like ``ReadWorkspace``, a remote workspace included."""
    record = await asyncio.to_thread(visible_workspace, ctx, principal, ws_id, local=False)  # a SQLite read
    require(principal, Access.READ)
    return record


KnownWorkspace = Annotated[Workspace, Depends(known_workspace)]


async def administered_workspace(ctx: Ctx, principal: Caller, ws_id: str = WorkspaceIdPath) -> Workspace:
    """``{ws_id}`` for a route that manages it (activate, dispose): visible to the caller, owner or higher."""
    record = await asyncio.to_thread(visible_workspace, ctx, principal, ws_id)  # a SQLite read
    require(principal, Access.ADMIN)
    return record


AdminWorkspace = Annotated[Workspace, Depends(administered_workspace)]
