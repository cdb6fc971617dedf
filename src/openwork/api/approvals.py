"""``/approvals``: what waits for the host's decision (host only)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict

from openwork.api.deps import Ctx, Host
from openwork.api.envelope import Envelope, ok

__all__ = ["router"]

router = APIRouter(prefix="/approvals", tags=["approvals"])


class Reply(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reply: Literal["allow", "deny"]


@router.get("", response_model=Envelope[dict[str, Any]])
async def list_approvals(request: Request, ctx: Ctx, _host: Host) -> dict[str, Any]:
    """Pending approvals (oldest first) and the most recent decisions."""
    return ok(
        request,
        {
            "mode": ctx.approvals.mode,
            "timeoutMs": ctx.approvals.timeout_ms,
            "items": [p.to_json() for p in ctx.approvals.pending()],
            "recent": ctx.approvals.history(limit=50),
        },
    )


@router.post("/{approval_id}", response_model=Envelope[dict[str, Any]])
async def reply(
    request: Request, body: Reply, ctx: Ctx, _host: Host, approval_id: str = Path(max_length=64)
) -> dict[str, Any]:
    pending = ctx.approvals.reply(approval_id, body.reply)
    return ok(request, {"approval": pending.to_json(), "reply": body.reply})
