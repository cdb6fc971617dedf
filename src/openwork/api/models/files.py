"""Answers of the file-session routes."""

from __future__ import annotations

from typing import Any, Literal

from openwork.files.catalog import CatalogItemInfo
from openwork.files.changes import ChangeInfo
from openwork.files.sessions import FileSession, FileSessionInfo
from openwork.wire import WireModel

__all__ = [
    "BatchResult",
    "CatalogSnapshot",
    "ChangesPage",
    "LegacySessionInfo",
    "LegacySessionResult",
    "SessionClosed",
    "SessionResult",
]


class SessionResult(WireModel):
    session: FileSessionInfo


class LegacySessionInfo(WireModel):
    """A file session as the original server described it: integer-millisecond times, ``canWrite``."""

    id: str
    session_id: str
    workspace_id: str
    created_at: int
    expires_at: int
    ttl_ms: int
    can_write: bool
    write: bool

    @classmethod
    def of(cls, session: FileSession) -> LegacySessionInfo:
        return cls(
            id=session.id,
            session_id=session.id,
            workspace_id=session.workspace_id,
            created_at=round(session.created_at * 1000),
            expires_at=round(session.expires_at * 1000),
            ttl_ms=round((session.expires_at - session.created_at) * 1000),
            can_write=session.write,
            write=session.write,
        )


class LegacySessionResult(WireModel):
    session: LegacySessionInfo


class SessionClosed(SessionResult):
    closed: Literal[True] = True


class CatalogSnapshot(WireModel):
    """One page of the listing; ``nextAfter`` is the ``after`` of the next page (null on the last), and
    ``cursor`` the change-log position to follow with ``catalog/events``."""

    items: list[CatalogItemInfo]
    next_after: str | None
    truncated: bool
    cursor: str


class ChangesPage(WireModel):
    """Changes after ``since``; ``truncated`` when the log no longer holds all of them (take a new snapshot)."""

    items: list[ChangeInfo]
    cursor: str
    truncated: bool


class BatchResult(WireModel):
    """One result per path or operation, in order: ``{path, ok: true, ...}`` or
    ``{path, ok: false, error: {code, message}}``."""

    # Free-form items: the success shape differs per route and an error omits its fields; the files
    # service builds them (openwork.files.service).
    items: list[dict[str, Any]]
