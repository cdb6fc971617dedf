"""``/tokens``: mint, list and revoke scoped tokens (host only)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from openwork.api.context import AppContext
from openwork.api.deps import Ctx, Host
from openwork.api.envelope import Envelope, ok
from openwork.api.models.tokens import NewToken, TokenInfo
from openwork.errors import NotFoundError, ValidationError
from openwork.workspaces.registry import MAX_PATH_CHARS

__all__ = ["router"]

router = APIRouter(prefix="/tokens", tags=["tokens"])
MAX_TTL_SECONDS = 366 * 24 * 3600
MAX_TOKEN_WORKSPACES = 256  # one token limited to more than this is better left unlimited


class MintRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scope: Literal["owner", "collaborator", "viewer"]
    label: str = Field(default="", max_length=200)
    ttlSeconds: int | None = Field(default=None, ge=1, le=MAX_TTL_SECONDS)
    # Omitted or null: every workspace. A list limits the token to those workspaces (others are 404 to it).
    workspaceIds: list[Annotated[str, StringConstraints(min_length=1, max_length=MAX_PATH_CHARS)]] | None = Field(
        default=None, min_length=1, max_length=MAX_TOKEN_WORKSPACES
    )


def _canonical(ctx: AppContext, ids: list[str]) -> list[str]:
    """Each id as the registry's record id; an unknown one refuses the mint (fail closed)."""
    canonical: list[str] = []
    for raw in ids:
        try:
            canonical.append(ctx.registry.get(raw).id)
        except NotFoundError:
            raise ValidationError(f"no workspace with id {raw[:80]!r}; no token was minted") from None
    return canonical


# The token store and the registry are SQLite: each route does its reads and writes in a worker thread.


@router.post("", status_code=201, response_model=Envelope[NewToken])
async def mint(request: Request, body: MintRequest, ctx: Ctx, _host: Host) -> Envelope[NewToken]:
    """The plaintext token is in this response only; the server keeps its hash. With ``workspaceIds``
    the token reaches only those workspaces; an unknown id is a 400 and nothing is stored."""

    def run() -> NewToken:
        limited = _canonical(ctx, body.workspaceIds) if body.workspaceIds is not None else None
        record, plaintext = ctx.tokens.mint(
            scope=body.scope, label=body.label, ttl_seconds=body.ttlSeconds, workspace_ids=limited
        )
        return NewToken(**dict(record.model()), token=plaintext)

    return ok(request, await asyncio.to_thread(run))


@router.get("", response_model=Envelope[list[TokenInfo]])
async def list_tokens(request: Request, ctx: Ctx, _host: Host) -> Envelope[list[TokenInfo]]:
    return ok(request, [t.model() for t in await asyncio.to_thread(ctx.tokens.list)])


@router.delete("/{token_id}", response_model=Envelope[TokenInfo])
async def revoke(request: Request, ctx: Ctx, _host: Host, token_id: str = Path(max_length=64)) -> Envelope[TokenInfo]:
    return ok(request, (await asyncio.to_thread(ctx.tokens.revoke, token_id)).model())
