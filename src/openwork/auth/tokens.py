"""Minted, scoped tokens: the plaintext is shown once; only its SHA-256 is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from openwork.errors import NotFoundError
from openwork.store.db import Database

__all__ = ["MintedToken", "Scope", "TokenService", "hash_token"]

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

    def active(self, now: float) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "label": self.label,
            "scope": self.scope,
            "createdAt": self.created_at,
            "expiresAt": self.expires_at,
            "revokedAt": self.revoked_at,
        }


class TokenService:
    """Mint, look up and revoke scoped tokens."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    def mint(self, *, scope: Scope, label: str, ttl_seconds: int | None) -> tuple[MintedToken, str]:
        now = self._clock()
        token_id = "tok_" + secrets.token_hex(8)
        plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
        expires = now + ttl_seconds if ttl_seconds is not None else None
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO tokens (id, label, scope, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                (token_id, label, scope, hash_token(plaintext), now, expires),
            )
        record = MintedToken(id=token_id, label=label, scope=scope, created_at=now, expires_at=expires, revoked_at=None)
        return record, plaintext

    def list(self) -> list[MintedToken]:
        rows = self._db.query("SELECT * FROM tokens ORDER BY created_at, id")
        return [self._from_row(row) for row in rows]

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
        return self._from_row(row)

    def verify(self, presented: str) -> MintedToken | None:
        """The active token matching ``presented``, or ``None``."""
        digest = hash_token(presented)
        row = self._db.query_one("SELECT * FROM tokens WHERE token_hash = ?", (digest,))
        # The lookup is by hash already; the constant-time compare guards against a future index change.
        if row is None or not hmac.compare_digest(row["token_hash"], digest):
            return None
        record = self._from_row(row)
        return record if record.active(self._clock()) else None

    @staticmethod
    def _from_row(row: object) -> MintedToken:
        r = row  # sqlite3.Row supports mapping access
        return MintedToken(
            id=r["id"],  # type: ignore[index]
            label=r["label"],  # type: ignore[index]
            scope=r["scope"],  # type: ignore[index]
            created_at=r["created_at"],  # type: ignore[index]
            expires_at=r["expires_at"],  # type: ignore[index]
            revoked_at=r["revoked_at"],  # type: ignore[index]
        )
