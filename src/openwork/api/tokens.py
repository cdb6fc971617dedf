"""``/tokens``: mint, list and revoke scoped tokens (host only)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from openwork.api.deps import Ctx, Host
from openwork.api.envelope import Envelope, ok

__all__ = ["router"]

router = APIRouter(prefix="/tokens", tags=["tokens"])
MAX_TTL_SECONDS = 366 * 24 * 3600


class MintRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scope: Literal["owner", "collaborator", "viewer"]
    label: str = Field(default="", max_length=200)
    ttlSeconds: int | None = Field(default=None, ge=1, le=MAX_TTL_SECONDS)


@router.post("", status_code=201, response_model=Envelope[dict[str, Any]])
async def mint(request: Request, body: MintRequest, ctx: Ctx, _host: Host) -> dict[str, Any]:
    """The plaintext token is in this response only; the server keeps its hash."""
    record, plaintext = ctx.tokens.mint(scope=body.scope, label=body.label, ttl_seconds=body.ttlSeconds)
    return ok(request, {**record.to_json(), "token": plaintext})


@router.get("", response_model=Envelope[list[dict[str, Any]]])
async def list_tokens(request: Request, ctx: Ctx, _host: Host) -> dict[str, Any]:
    return ok(request, [t.to_json() for t in ctx.tokens.list()])


@router.delete("/{token_id}", response_model=Envelope[dict[str, Any]])
async def revoke(request: Request, ctx: Ctx, _host: Host, token_id: str = Path(max_length=64)) -> dict[str, Any]:
    return ok(request, ctx.tokens.revoke(token_id).to_json())
