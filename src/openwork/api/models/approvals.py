"""Answers of ``/approvals``."""

from __future__ import annotations

from typing import Any, Literal

from openwork.approvals.service import ApprovalInfo, ApprovalMode
from openwork.wire import WireModel

__all__ = ["ApprovalDecision", "ApprovalInfo", "ApprovalList", "ApprovalReplied"]


class ApprovalDecision(WireModel):
    """A recorded decision: ``decision`` allowed / denied / timeout, ``decidedBy`` auto / host / timeout."""

    id: str
    workspace_id: str
    who: str
    action: str
    paths: list[dict[str, Any]]
    decision: str
    decided_by: str
    created_at: float
    decided_at: float


class ApprovalList(WireModel):
    """The approval mode, pending requests (oldest first) and the most recent decisions."""

    mode: ApprovalMode
    timeout_ms: int
    items: list[ApprovalInfo]
    recent: list[ApprovalDecision]


class ApprovalReplied(WireModel):
    approval: ApprovalInfo
    reply: Literal["allow", "deny"]
