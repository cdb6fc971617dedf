"""``/approvals``: what waits for the host's decision (host only)."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict

from openwork.api.deps import Ctx, Host
from openwork.api.envelope import Envelope, ok
from openwork.api.models.approvals import ApprovalDecision, ApprovalList, ApprovalReplied

__all__ = ["router"]

router = APIRouter(prefix="/approvals", tags=["approvals"])


class Reply(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reply: Literal["allow", "deny"]


@router.get("", response_model=Envelope[ApprovalList])
async def list_approvals(request: Request, ctx: Ctx, _host: Host) -> Envelope[ApprovalList]:
    """Pending approvals (oldest first) and the most recent decisions."""
    recent = await asyncio.to_thread(ctx.approvals.history, limit=50)  # a SQLite read
    return ok(
        request,
        ApprovalList(
            mode=ctx.approvals.mode,
            timeout_ms=ctx.approvals.timeout_ms,
            items=[p.model() for p in ctx.approvals.pending()],
            recent=[ApprovalDecision.model_validate(r) for r in recent],
        ),
    )


@router.post("/{approval_id}", response_model=Envelope[ApprovalReplied])
async def reply(
    request: Request, body: Reply, ctx: Ctx, _host: Host, approval_id: str = Path(max_length=64)
) -> Envelope[ApprovalReplied]:
    pending = ctx.approvals.reply(approval_id, body.reply)
    return ok(request, ApprovalReplied(approval=pending.model(), reply=body.reply))
