"""Minted, scoped tokens: the plaintext is shown once; only its SHA-256 is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from openwork.errors import NotFoundError, ValidationError
from openwork.store.db import Database
from openwork.wire import WireModel

__all__ = ["MintedToken", "Scope", "TokenInfo", "TokenService", "hash_token"]

Scope = Literal["owner", "collaborator", "viewer"]
TOKEN_PREFIX = "owt_"  # noqa: S105 - lets a user (and a secret scanner) recognise a minted openwork token


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, kw_only=True, slots=True)
class MintedToken:
    """A stored token's public record (never the plaintext)."""

    id: str
    label: str
    scope: Scope
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    # The workspace record ids it is limited to; ``None`` = every workspace, empty = none any more.
    workspace_ids: frozenset[str] | None = None

    def active(self, now: float) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    def model(self) -> TokenInfo:
        """The public record as it goes on the wire."""
        return TokenInfo(
            id=self.id,
            label=self.label,
            scope=self.scope,
            created_at=self.created_at,
            expires_at=self.expires_at,
            revoked_at=self.revoked_at,
            workspace_ids=sorted(self.workspace_ids) if self.workspace_ids is not None else None,
        )

    def to_json(self) -> dict[str, object]:
        """The wire dict; kept for tests/unit/test_token_limits.py."""
        return self.model().wire()


class TokenInfo(WireModel):
    """A minted token's public record. ``workspaceIds``: null for every workspace, else sorted ids."""

    id: str
    label: str
    scope: Scope
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    workspace_ids: list[str] | None


class TokenService:
    """Mint, look up and revoke scoped tokens."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    def mint(
        self,
        *,
        scope: Scope,
        label: str,
        ttl_seconds: int | None,
        workspace_ids: Iterable[str] | None = None,
    ) -> tuple[MintedToken, str]:
        """Store a new token and return its record and plaintext (shown once).

        ``workspace_ids`` limits it to those workspace records (canonical ids, as the registry returns
        them); ``None`` leaves it unlimited. An id with no record refuses the whole mint: nothing is stored.
        """
        now = self._clock()
        token_id = "tok_" + secrets.token_hex(8)
        plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
        expires = now + ttl_seconds if ttl_seconds is not None else None
        limited = frozenset(workspace_ids) if workspace_ids is not None else None
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO tokens (id, label, scope, token_hash, created_at, expires_at, limited)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (token_id, label, scope, hash_token(plaintext), now, expires, int(limited is not None)),
            )
            for ws_id in sorted(limited or ()):
                # Checked inside the transaction: a workspace removed meanwhile fails the mint too.
                if conn.execute("SELECT 1 FROM workspaces WHERE id = ?", (ws_id,)).fetchone() is None:
                    raise ValidationError(f"no workspace with id {ws_id!r}; no token was minted")
                conn.execute("INSERT INTO token_workspaces (token_id, workspace_id) VALUES (?, ?)", (token_id, ws_id))
        record = MintedToken(
            id=token_id,
            label=label,
            scope=scope,
            created_at=now,
            expires_at=expires,
            revoked_at=None,
            workspace_ids=limited,
        )
        return record, plaintext

    def list(self) -> list[MintedToken]:
        rows = self._db.query("SELECT * FROM tokens ORDER BY created_at, id")
        limits: dict[str, set[str]] = {}
        for link in self._db.query("SELECT token_id, workspace_id FROM token_workspaces"):
            limits.setdefault(link["token_id"], set()).add(link["workspace_id"])
        return [self._from_row(row, limits.get(row["id"], set())) for row in rows]

    def revoke(self, token_id: str) -> MintedToken:
        with self._db.transaction() as conn:
            cur = conn.execute(
                "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (self._clock(), token_id),
            )
            changed = cur.rowcount
        row = self._db.query_one("SELECT * FROM tokens WHERE id = ?", (token_id,))
        if row is None or (changed == 0 and row["revoked_at"] is None):
            raise NotFoundError(f"no token with id {token_id!r}")
        return self._from_row(row, self._limits(token_id))

    def verify(self, presented: str) -> MintedToken | None:
        """The active token matching ``presented``, or ``None``."""
        digest = hash_token(presented)
        row = self._db.query_one("SELECT * FROM tokens WHERE token_hash = ?", (digest,))
        # The lookup is by hash already; the constant-time compare guards against a future index change.
        if row is None or not hmac.compare_digest(row["token_hash"], digest):
            return None
        record = self._from_row(row, self._limits(row["id"]) if row["limited"] else set())
        return record if record.active(self._clock()) else None

    def _limits(self, token_id: str) -> set[str]:
        rows = self._db.query("SELECT workspace_id FROM token_workspaces WHERE token_id = ?", (token_id,))
        return {str(r[0]) for r in rows}

    @staticmethod
    def _from_row(row: sqlite3.Row, limits: set[str]) -> MintedToken:
        return MintedToken(
            id=row["id"],
            label=row["label"],
            scope=row["scope"],
            created_at=row["created_at"],
            expires_at=row["expires_at"],
            revoked_at=row["revoked_at"],
            # ``limited`` decides, not whether links remain: a token whose workspaces were all removed
            # stays limited, to nothing.
            workspace_ids=frozenset(limits) if row["limited"] else None,
        )
