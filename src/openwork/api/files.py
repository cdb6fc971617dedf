"""File sessions: ``/workspaces/{id}/file-sessions/...`` and the original server's ``/files/sessions/...``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from openwork.api.context import AppContext
from openwork.api.deps import Caller, Ctx, ReadWorkspace, visible_workspace
from openwork.api.envelope import Envelope, ok
from openwork.api.models.files import BatchResult, CatalogSnapshot, ChangesPage, SessionClosed, SessionResult
from openwork.api.offloop import OffLoopJSONRoute
from openwork.auth.principal import Principal
from openwork.errors import NotFoundError
from openwork.files.pathrules import MAX_PATH_CHARS
from openwork.files.sessions import DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS

__all__ = ["WRITE_BODY_LIMIT", "include_file_routes"]

# Session routes are written once and mounted twice: under /workspaces/{ws_id}/file-sessions (checked
# against the session's workspace) and under the original server's /files/sessions.
session_router = APIRouter(tags=["files"], route_class=OffLoopJSONRoute)  # write batches reach 48 MiB
router = APIRouter(tags=["files"])

WRITE_BODY_LIMIT = 48 * 1024 * 1024  # 32 MiB of content, base64-encoded, plus JSON framing
Sid = Path(min_length=1, max_length=64)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateSession(_Strict):
    ttlSeconds: int = Field(default=DEFAULT_TTL_SECONDS, ge=1, le=MAX_TTL_SECONDS)
    write: bool = False


class Renew(_Strict):
    ttlSeconds: int = Field(default=DEFAULT_TTL_SECONDS, ge=1, le=MAX_TTL_SECONDS)


class ReadBatch(_Strict):
    paths: list[str] = Field(max_length=10_000)


class WriteItem(_Strict):
    path: str = Field(max_length=MAX_PATH_CHARS * 2)  # checked precisely per path; a bad one fails alone
    contentBase64: str
    ifMatchRevision: str | None = Field(default=None, max_length=128)
    force: bool = False


class WriteBatch(_Strict):
    writes: list[WriteItem] = Field(max_length=10_000)


class Operation(_Strict):
    type: Literal["mkdir", "delete", "rename"]
    path: str = Field(max_length=MAX_PATH_CHARS * 2)
    to: str | None = Field(default=None, max_length=MAX_PATH_CHARS * 2)
    recursive: bool = False


class Operations(_Strict):
    operations: list[Operation] = Field(max_length=10_000)


class LegacyOps(_Strict):
    ops: list[Operation] = Field(max_length=10_000)


# -- opening a session (two spellings) -------------------------------------------------------------


async def create(
    request: Request, body: CreateSession, ctx: Ctx, caller: Caller, record: ReadWorkspace
) -> Envelope[SessionResult]:
    """A session bound to the calling token; other tokens get 404 for it. Writing needs a collaborator
    token or higher."""
    session = await asyncio.to_thread(
        ctx.files.create_session, caller, record.id, ttl=body.ttlSeconds, write=body.write
    )
    return ok(request, SessionResult(session=session.model()))


for _path in ("/workspaces/{ws_id}/file-sessions", "/workspace/{ws_id}/files/sessions"):
    router.add_api_route(_path, create, methods=["POST"], status_code=201, response_model=Envelope[SessionResult])


# -- one session -------------------------------------------------------------------------------------


@session_router.post("/{sid}/renew", response_model=Envelope[SessionResult])
async def renew(request: Request, body: Renew, ctx: Ctx, caller: Caller, sid: str = Sid) -> Envelope[SessionResult]:
    session = ctx.files.sessions.renew(sid, caller.subject, body.ttlSeconds)
    return ok(request, SessionResult(session=session.model()))


@session_router.delete("/{sid}", response_model=Envelope[SessionClosed])
async def close(request: Request, ctx: Ctx, caller: Caller, sid: str = Sid) -> Envelope[SessionClosed]:
    return ok(request, SessionClosed(session=ctx.files.sessions.close(sid, caller.subject).model()))


# The files service still answers dicts (openwork.files.service); the routes validate them into their models.


@session_router.get("/{sid}/catalog/snapshot", response_model=Envelope[CatalogSnapshot])
async def snapshot(
    request: Request,
    ctx: Ctx,
    caller: Caller,
    sid: str = Sid,
    prefix: str | None = Query(default=None, max_length=MAX_PATH_CHARS),
    after: str | None = Query(default=None, max_length=MAX_PATH_CHARS),
    limit: int | None = Query(default=None, ge=1, le=10_000),
    includeDirs: bool = False,
) -> Envelope[CatalogSnapshot]:
    """Sorted, paged listing. ``.git``, ``node_modules`` and the server's own state are left out."""
    data = await ctx.files.catalog(caller, sid, prefix=prefix, after=after, limit=limit, include_dirs=includeDirs)
    return ok(request, CatalogSnapshot.model_validate(data))


@session_router.get("/{sid}/catalog/events", response_model=Envelope[ChangesPage])
async def events(
    request: Request, ctx: Ctx, caller: Caller, sid: str = Sid, since: str | None = Query(default=None, max_length=32)
) -> Envelope[ChangesPage]:
    return ok(request, ChangesPage.model_validate(await asyncio.to_thread(ctx.files.events, caller, sid, since)))


@session_router.post("/{sid}/read-batch", response_model=Envelope[BatchResult])
async def read_batch(
    request: Request, body: ReadBatch, ctx: Ctx, caller: Caller, sid: str = Sid
) -> Envelope[BatchResult]:
    return ok(request, BatchResult.model_validate(await ctx.files.read_batch(caller, sid, body.paths)))


@session_router.post("/{sid}/write-batch", response_model=Envelope[BatchResult])
async def write_batch(
    request: Request, body: WriteBatch, ctx: Ctx, caller: Caller, sid: str = Sid
) -> Envelope[BatchResult]:
    """Atomic per file. In manual approval mode this waits for the host; a deny writes nothing."""
    writes = [w.model_dump() for w in body.writes]
    return ok(request, BatchResult.model_validate(await ctx.files.write_batch(caller, sid, writes)))


@session_router.post("/{sid}/operations", response_model=Envelope[BatchResult])
async def operations(
    request: Request, body: Operations, ctx: Ctx, caller: Caller, sid: str = Sid
) -> Envelope[BatchResult]:
    return await _operations(request, ctx, caller, sid, body.operations)


@session_router.post("/{sid}/ops", response_model=Envelope[BatchResult])
async def legacy_ops(
    request: Request, body: LegacyOps, ctx: Ctx, caller: Caller, sid: str = Sid
) -> Envelope[BatchResult]:
    """The original server's name for ``operations``."""
    return await _operations(request, ctx, caller, sid, body.ops)


async def _operations(
    request: Request, ctx: AppContext, caller: Principal, sid: str, ops: Sequence[BaseModel]
) -> Envelope[BatchResult]:
    result = await ctx.files.operations(caller, sid, [o.model_dump() for o in ops])
    return ok(request, BatchResult.model_validate(result))


async def _same_workspace(request: Request, ctx: Ctx, caller: Caller) -> None:
    """Under /workspaces/{ws_id}/..., a session of another workspace (or of one the caller may no longer
    see) is not there."""
    sid = request.path_params.get("sid")
    if sid is not None:
        session = ctx.files.sessions.get(sid, caller.subject)
        ws_id = str(request.path_params.get("ws_id"))
        record = await asyncio.to_thread(visible_workspace, ctx, caller, ws_id)  # a SQLite read
        if session.workspace_id != record.id:
            raise NotFoundError("no such file session (it may have expired)")


def include_file_routes(app: FastAPI) -> None:
    app.include_router(router)
    app.include_router(
        session_router, prefix="/workspaces/{ws_id}/file-sessions", dependencies=[Depends(_same_workspace)]
    )
    app.include_router(session_router, prefix="/files/sessions", tags=["legacy"])
