"""``/tokens``: mint, list and revoke scoped tokens (host only)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from openwork.api.context import AppContext
from openwork.api.deps import Ctx, Host
from openwork.api.envelope import Envelope, ok
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


@router.post("", status_code=201, response_model=Envelope[dict[str, Any]])
async def mint(request: Request, body: MintRequest, ctx: Ctx, _host: Host) -> dict[str, Any]:
    """The plaintext token is in this response only; the server keeps its hash. With ``workspaceIds``
    the token reaches only those workspaces; an unknown id is a 400 and nothing is stored."""
    limited = _canonical(ctx, body.workspaceIds) if body.workspaceIds is not None else None
    record, plaintext = ctx.tokens.mint(
        scope=body.scope, label=body.label, ttl_seconds=body.ttlSeconds, workspace_ids=limited
    )
    return ok(request, {**record.to_json(), "token": plaintext})


@router.get("", response_model=Envelope[list[dict[str, Any]]])
async def list_tokens(request: Request, ctx: Ctx, _host: Host) -> dict[str, Any]:
    return ok(request, [t.to_json() for t in ctx.tokens.list()])


@router.delete("/{token_id}", response_model=Envelope[dict[str, Any]])
async def revoke(request: Request, ctx: Ctx, _host: Host, token_id: str = Path(max_length=64)) -> dict[str, Any]:
    return ok(request, ctx.tokens.revoke(token_id).to_json())
