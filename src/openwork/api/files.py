"""File sessions: ``/workspaces/{id}/file-sessions/...`` and the original server's ``/files/sessions/...``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from openwork.api.context import AppContext
from openwork.api.deps import Caller, Ctx, ReadWorkspace, visible_workspace
from openwork.api.envelope import Envelope, answer, ok, shape_of
from openwork.api.models.files import (
    BatchResult,
    CatalogSnapshot,
    ChangesPage,
    LegacySessionInfo,
    LegacySessionResult,
    SessionClosed,
    SessionResult,
)
from openwork.api.offloop import OffLoopJSONRoute
from openwork.auth.principal import Access, Principal
from openwork.errors import NotFoundError, ValidationError
from openwork.files.pathrules import MAX_PATH_CHARS
from openwork.files.sessions import DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS, FileSession

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
    # Ours: read-only unless asked. The original server's: writable unless asked, as far as the token may.
    write: bool | None = None


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


class LegacyOperation(_Strict):
    """The original server's spelling: ``rename`` names ``from``/``to``, the others ``path``."""

    type: Literal["mkdir", "delete", "rename"]
    path: str | None = Field(default=None, max_length=MAX_PATH_CHARS * 2)
    from_: str | None = Field(default=None, alias="from", max_length=MAX_PATH_CHARS * 2)
    to: str | None = Field(default=None, max_length=MAX_PATH_CHARS * 2)
    recursive: bool = False

    def ours(self) -> Operation:
        path = self.path if self.path is not None else self.from_
        if path is None:
            raise ValidationError(f"a {self.type} operation needs " + ("from" if self.type == "rename" else "path"))
        return Operation(type=self.type, path=path, to=self.to, recursive=self.recursive)


class LegacyOps(_Strict):
    """``operations`` (the original server's) or ``ops`` (openwork-py's own CLI before it used the former)."""

    operations: list[LegacyOperation] | None = Field(default=None, max_length=10_000)
    ops: list[LegacyOperation] | None = Field(default=None, max_length=10_000)


# -- opening a session (two spellings) -------------------------------------------------------------


async def create(
    request: Request, body: CreateSession, ctx: Ctx, caller: Caller, record: ReadWorkspace
) -> Envelope[SessionResult] | JSONResponse:
    """A session bound to the calling token; other tokens get 404 for it. Writing needs a collaborator
    token or higher."""
    write = body.write
    if shape_of(request.scope) == "server":  # as the original server: writable as far as the token may
        write = (write is not False) and caller.allows(Access.ACT)
    session = await asyncio.to_thread(
        ctx.files.create_session, caller, record.id, ttl=body.ttlSeconds, write=bool(write)
    )
    return _session(request, session, status=201)


def _session(request: Request, session: FileSession, *, status: int = 200) -> Envelope[SessionResult] | JSONResponse:
    if shape_of(request.scope) == "server":
        return answer(request, LegacySessionResult(session=LegacySessionInfo.of(session)), status=status)
    return ok(request, SessionResult(session=session.model()))


for _path in ("/workspaces/{ws_id}/file-sessions", "/workspace/{ws_id}/files/sessions"):
    router.add_api_route(_path, create, methods=["POST"], status_code=201, response_model=Envelope[SessionResult])


# -- one session -------------------------------------------------------------------------------------


@session_router.post("/{sid}/renew", response_model=Envelope[SessionResult])
async def renew(
    request: Request, body: Renew, ctx: Ctx, caller: Caller, sid: str = Sid
) -> Envelope[SessionResult] | JSONResponse:
    return _session(request, ctx.files.sessions.renew(sid, caller.subject, body.ttlSeconds))


@session_router.delete("/{sid}", response_model=Envelope[SessionClosed])
async def close(request: Request, ctx: Ctx, caller: Caller, sid: str = Sid) -> Envelope[SessionClosed] | JSONResponse:
    session = ctx.files.sessions.close(sid, caller.subject)
    if shape_of(request.scope) == "server":
        legacy = LegacySessionInfo.of(session).wire()
        return JSONResponse({"ok": True, "closed": True, "session": legacy})
    return ok(request, SessionClosed(session=session.model()))


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
    includeDirs: bool | None = Query(default=None, description="default: false here, true on /files/sessions"),
) -> Envelope[CatalogSnapshot] | JSONResponse:
    """Sorted, paged listing. ``.git``, ``node_modules`` and the server's own state are left out."""
    dirs = includeDirs if includeDirs is not None else shape_of(request.scope) == "server"
    data = await ctx.files.catalog(caller, sid, prefix=prefix, after=after, limit=limit, include_dirs=dirs)
    return answer(request, CatalogSnapshot.model_validate(data))


@session_router.get("/{sid}/catalog/events", response_model=Envelope[ChangesPage])
async def events(
    request: Request, ctx: Ctx, caller: Caller, sid: str = Sid, since: str | None = Query(default=None, max_length=32)
) -> Envelope[ChangesPage] | JSONResponse:
    page = ChangesPage.model_validate(await asyncio.to_thread(ctx.files.events, caller, sid, since))
    if shape_of(request.scope) == "server":  # the original's times: integer milliseconds
        wire = page.wire()
        for item in wire["items"]:
            item["at"] = round(item["at"] * 1000)
        return JSONResponse(wire)
    return ok(request, page)


@session_router.post("/{sid}/read-batch", response_model=Envelope[BatchResult])
async def read_batch(
    request: Request, body: ReadBatch, ctx: Ctx, caller: Caller, sid: str = Sid
) -> Envelope[BatchResult] | JSONResponse:
    return answer(request, BatchResult.model_validate(await ctx.files.read_batch(caller, sid, body.paths)))


@session_router.post("/{sid}/write-batch", response_model=Envelope[BatchResult])
async def write_batch(
    request: Request, body: WriteBatch, ctx: Ctx, caller: Caller, sid: str = Sid
) -> Envelope[BatchResult] | JSONResponse:
    """Atomic per file. In manual approval mode this waits for the host; a deny writes nothing."""
    writes = [w.model_dump() for w in body.writes]
    return answer(request, BatchResult.model_validate(await ctx.files.write_batch(caller, sid, writes)))


@session_router.post("/{sid}/operations", response_model=Envelope[BatchResult])
async def operations(
    request: Request, body: Operations, ctx: Ctx, caller: Caller, sid: str = Sid
) -> Envelope[BatchResult] | JSONResponse:
    return await _operations(request, ctx, caller, sid, body.operations)


@session_router.post("/{sid}/ops", response_model=Envelope[BatchResult])
async def legacy_ops(
    request: Request, body: LegacyOps, ctx: Ctx, caller: Caller, sid: str = Sid
) -> Envelope[BatchResult] | JSONResponse:
    """The original server's name for ``operations``, in its spelling."""
    given = body.operations if body.operations is not None else body.ops
    if given is None:
        raise ValidationError("invalid request: operations: Field required")
    return await _operations(request, ctx, caller, sid, [op.ours() for op in given])


async def _operations(
    request: Request, ctx: AppContext, caller: Principal, sid: str, ops: Sequence[BaseModel]
) -> Envelope[BatchResult] | JSONResponse:
    result = await ctx.files.operations(caller, sid, [o.model_dump() for o in ops])
    return answer(request, BatchResult.model_validate(result))


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
