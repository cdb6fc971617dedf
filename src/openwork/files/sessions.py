"""Short-lived file sessions, each bound to the token that created it."""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from openwork.auth.quota import CallerCap
from openwork.errors import NotFoundError
from openwork.wire import WireModel

__all__ = [
    "DEFAULT_TTL_SECONDS",
    "MAX_SESSIONS",
    "MAX_SESSIONS_PER_TOKEN",
    "MAX_TTL_SECONDS",
    "SESSION_CAP",
    "FileSession",
    "FileSessionInfo",
    "SessionStore",
]

DEFAULT_TTL_SECONDS = 600
MAX_TTL_SECONDS = 3600
MAX_SESSIONS_PER_TOKEN = 100  # live sessions one token may hold, over all workspaces (expired ones are reaped)
MAX_SESSIONS = 1000  # the backstop on all minted tokens together; the host and client tokens are outside it
SESSION_CAP = CallerCap(what="open file sessions", per_token=MAX_SESSIONS_PER_TOKEN, minted_total=MAX_SESSIONS)


@dataclass(frozen=True, slots=True)
class FileSession:
    id: str
    workspace_id: str
    subject: str  # which token created it (never the token itself)
    write: bool
    created_at: float
    expires_at: float
    minted: bool = True  # created by a minted token: counts against the backstop (SESSION_CAP.minted_total)

    def model(self) -> FileSessionInfo:
        """The session as it goes on the wire (never the token that owns it)."""
        return FileSessionInfo(
            id=self.id,
            session_id=self.id,
            workspace_id=self.workspace_id,
            write=self.write,
            created_at=self.created_at,
            expires_at=self.expires_at,
        )


class FileSessionInfo(WireModel):
    """A file session. ``sessionId`` repeats ``id``: the original server's clients read that name."""

    id: str
    session_id: str
    workspace_id: str
    write: bool
    created_at: float
    expires_at: float


class SessionStore:
    def __init__(self, *, clock: Callable[[], float] = time.time, cap: CallerCap = SESSION_CAP) -> None:
        self._clock = clock
        self._cap = cap
        self._sessions: dict[str, FileSession] = {}

    def reap(self) -> list[FileSession]:
        now = self._clock()
        expired = [s for s in self._sessions.values() if s.expires_at <= now]
        for session in expired:
            del self._sessions[session.id]
        return expired

    def create(self, *, workspace_id: str, subject: str, write: bool, ttl: int, minted: bool = True) -> FileSession:
        """A new session for the token ``subject`` (``minted``: not the host or the client token), or
        ``ConflictError`` when that token, or minted tokens together, hold their cap."""
        self.reap()
        self._cap.admit(
            held_by_token=self.held_by(subject),
            held_by_minted=sum(1 for s in self._sessions.values() if s.minted),
            minted=minted,
        )
        now = self._clock()
        session = FileSession("fs_" + secrets.token_hex(12), workspace_id, subject, write, now, now + ttl, minted)
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

    def held_by(self, subject: str) -> int:
        """Live sessions of the token ``subject``, over every workspace."""
        return sum(1 for s in self._sessions.values() if s.subject == subject)

    def open_for(self, workspace_id: str) -> int:
        return sum(1 for s in self._sessions.values() if s.workspace_id == workspace_id)
