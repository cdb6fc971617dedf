"""Short-lived file sessions, each bound to the token that created it."""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from openwork.errors import NotFoundError

__all__ = ["DEFAULT_TTL_SECONDS", "MAX_TTL_SECONDS", "FileSession", "SessionStore"]

DEFAULT_TTL_SECONDS = 600
MAX_TTL_SECONDS = 3600
MAX_SESSIONS = 1000  # per server; the oldest expired ones are reaped first


@dataclass(frozen=True, slots=True)
class FileSession:
    id: str
    workspace_id: str
    subject: str  # which token created it (never the token itself)
    write: bool
    created_at: float
    expires_at: float

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "sessionId": self.id,
            "workspaceId": self.workspace_id,
            "write": self.write,
            "createdAt": self.created_at,
            "expiresAt": self.expires_at,
        }


class SessionStore:
    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._sessions: dict[str, FileSession] = {}

    def reap(self) -> list[FileSession]:
        now = self._clock()
        expired = [s for s in self._sessions.values() if s.expires_at <= now]
        for session in expired:
            del self._sessions[session.id]
        return expired

    def create(self, *, workspace_id: str, subject: str, write: bool, ttl: int) -> FileSession:
        self.reap()
        if len(self._sessions) >= MAX_SESSIONS:
            from openwork.errors import ConflictError

            raise ConflictError(f"too many open file sessions ({MAX_SESSIONS}); close some first")
        now = self._clock()
        session = FileSession("fs_" + secrets.token_hex(12), workspace_id, subject, write, now, now + ttl)
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str, subject: str) -> FileSession:
        """The caller's live session. Unknown, expired and other callers' sessions all look the same."""
        self.reap()
        session = self._sessions.get(session_id)
        if session is None or not hmac.compare_digest(session.subject, subject):
            raise NotFoundError("no such file session (it may have expired)")
        return session

    def renew(self, session_id: str, subject: str, ttl: int) -> FileSession:
        session = replace(self.get(session_id, subject), expires_at=self._clock() + ttl)
        self._sessions[session_id] = session
        return session

    def close(self, session_id: str, subject: str) -> FileSession:
        session = self.get(session_id, subject)
        del self._sessions[session_id]
        return session

    def open_for(self, workspace_id: str) -> int:
        return sum(1 for s in self._sessions.values() if s.workspace_id == workspace_id)
