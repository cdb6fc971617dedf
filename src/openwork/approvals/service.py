"""Human-in-the-loop approvals: in ``manual`` mode each file write waits for the host's decision.

Pending approvals live in memory (a waiting request holds them); every decision is recorded in SQLite
and published on the event bus.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field

from openwork.auth.quota import CallerCap
from openwork.errors import NotFoundError, WriteDenied
from openwork.runtime.events import EventBus
from openwork.store.db import Database
from openwork.wire import WireModel

__all__ = [
    "APPROVAL_CAP",
    "MAX_PENDING",
    "MAX_PENDING_PER_TOKEN",
    "ApprovalInfo",
    "ApprovalMode",
    "ApprovalRequested",
    "ApprovalService",
    "PendingApproval",
    "WriteDenied",
]

ApprovalMode = Literal["auto", "manual"]
MAX_PENDING_PER_TOKEN = 16  # requests one token may have waiting for the host at once
MAX_PENDING = 256  # the backstop on all minted tokens together; the host and client tokens are outside it
APPROVAL_CAP = CallerCap(what="pending approvals", per_token=MAX_PENDING_PER_TOKEN, minted_total=MAX_PENDING)


@dataclass(slots=True)
class PendingApproval:
    id: str
    workspace_id: str
    who: str
    action: str
    paths: list[dict[str, Any]]
    created_at: float
    expires_at: float
    future: asyncio.Future[str] = field(repr=False)
    minted: bool = True  # asked by a minted token: counts against the backstop (APPROVAL_CAP.minted_total)

    def model(self) -> ApprovalInfo:
        """The request as it goes on the wire (never its future)."""
        return ApprovalInfo(
            id=self.id,
            workspace_id=self.workspace_id,
            who=self.who,
            action=self.action,
            paths=self.paths,
            count=len(self.paths),
            size_bytes=sum(int(p.get("size") or 0) for p in self.paths),
            created_at=self.created_at,
            expires_at=self.expires_at,
        )


class ApprovalInfo(WireModel):
    """A write waiting for the host: who asks, what for, how many paths and bytes, until when."""

    id: str
    workspace_id: str
    who: str
    action: str
    paths: list[dict[str, Any]]
    count: int
    size_bytes: int = Field(alias="bytes")  # not ``bytes`` in Python: that name is the builtin type
    created_at: float
    expires_at: float


class ApprovalRequested(WireModel):
    """Payload of ``approval.requested``."""

    approval: ApprovalInfo


class ApprovalService:
    def __init__(
        self,
        *,
        db: Database,
        bus: EventBus,
        mode: ApprovalMode,
        timeout_ms: int,
        clock: Callable[[], float] = time.time,
        cap: CallerCap = APPROVAL_CAP,
    ) -> None:
        self.mode = mode
        self.timeout_ms = timeout_ms
        self._db = db
        self._bus = bus
        self._clock = clock
        self._cap = cap
        self._pending: dict[str, PendingApproval] = {}

    def pending(self) -> list[PendingApproval]:
        return sorted(self._pending.values(), key=lambda p: p.created_at)

    def held_by(self, who: str) -> int:
        """Requests of the token ``who`` waiting for the host, over every workspace."""
        return sum(1 for p in self._pending.values() if p.who == who)

    async def require(
        self, *, workspace_id: str, who: str, action: str, paths: list[dict[str, Any]], minted: bool = True
    ) -> None:
        """Return when allowed; raise ``WriteDenied`` on deny or timeout. ``auto`` allows at once.

        ``who`` is the asking token's subject; ``minted``: it is not the host or the client token (those
        are outside the server-wide backstop, so they can always ask). ``ConflictError`` when the cap binds.
        """
        now = self._clock()
        approval_id = "apr_" + secrets.token_hex(8)
        if self.mode == "auto":
            self._record(approval_id, workspace_id, who, action, paths, "allowed", "auto", now)
            return
        self._cap.admit(
            held_by_token=self.held_by(who),
            held_by_minted=sum(1 for p in self._pending.values() if p.minted),
            minted=minted,
        )
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        timeout = self.timeout_ms / 1000
        pending = PendingApproval(approval_id, workspace_id, who, action, paths, now, now + timeout, future, minted)
        self._pending[approval_id] = pending
        self._bus.publish("approval.requested", ApprovalRequested(approval=pending.model()).wire())
        try:
            decision = await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            decision = "timeout"
        finally:
            self._pending.pop(approval_id, None)
        outcome = {"allow": "allowed", "deny": "denied"}.get(decision, "timeout")
        self._record(
            approval_id, workspace_id, who, action, paths, outcome, "host" if outcome != "timeout" else "timeout", now
        )
        self._bus.publish("approval.decided", {"id": approval_id, "decision": outcome})
        if decision != "allow":
            reason = "denied by the host" if decision == "deny" else f"no decision within {self.timeout_ms} ms"
            raise WriteDenied(f"write not approved: {reason}")

    def reply(self, approval_id: str, reply: Literal["allow", "deny"]) -> PendingApproval:
        pending = self._pending.get(approval_id)
        if pending is None:
            raise NotFoundError("no such pending approval (it may have been decided or timed out)")
        if not pending.future.done():
            pending.future.set_result(reply)
        return pending

    def history(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = self._db.query("SELECT * FROM approvals ORDER BY decided_at DESC LIMIT ?", (limit,))
        return [
            {
                "id": r["id"],
                "workspaceId": r["workspace_id"],
                "who": r["who"],
                "action": r["action"],
                "paths": json.loads(r["paths_json"]),
                "decision": r["decision"],
                "decidedBy": r["decided_by"],
                "createdAt": r["created_at"],
                "decidedAt": r["decided_at"],
            }
            for r in rows
        ]

    def _record(
        self,
        approval_id: str,
        workspace_id: str,
        who: str,
        action: str,
        paths: list[dict[str, Any]],
        decision: str,
        decided_by: str,
        created_at: float,
    ) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO approvals (id, workspace_id, who, action, paths_json, decision, decided_by, created_at,"
                " decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    approval_id,
                    workspace_id,
                    who,
                    action,
                    json.dumps(paths),
                    decision,
                    decided_by,
                    created_at,
                    self._clock(),
                ),
            )
