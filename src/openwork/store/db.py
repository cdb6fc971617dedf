"""SQLite state (WAL), versioned with ``PRAGMA user_version`` migrations; corrupt files are quarantined."""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from openwork.errors import StoreError, storage_full
from openwork.logging import get_logger

__all__ = ["MIGRATIONS", "Database"]

log = get_logger("openwork.store")

DEFAULT_BUSY_TIMEOUT = 5.0  # seconds a writer waits for another connection's lock

# Append only: index + 1 is the schema version a script brings the database to.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE tokens (
        id TEXT PRIMARY KEY,
        label TEXT NOT NULL,
        scope TEXT NOT NULL CHECK (scope IN ('owner', 'collaborator', 'viewer')),
        token_hash TEXT NOT NULL UNIQUE,
        created_at REAL NOT NULL,
        expires_at REAL,
        revoked_at REAL
    );
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    """
    CREATE TABLE workspaces (
        id TEXT PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    """,
    """
    CREATE TABLE approvals (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL,
        who TEXT NOT NULL,
        action TEXT NOT NULL,
        paths_json TEXT NOT NULL,
        decision TEXT NOT NULL CHECK (decision IN ('allowed', 'denied', 'timeout')),
        decided_by TEXT NOT NULL,
        created_at REAL NOT NULL,
        decided_at REAL NOT NULL
    );
    CREATE INDEX approvals_decided ON approvals (decided_at);
    """,
    # A minted token limited to some workspaces. The limitation references the workspace *record*, so a
    # change of the id scheme (an UPDATE of workspaces.id) carries it along, and removing a workspace
    # drops it from every limitation; ``limited`` keeps a token whose workspaces are all gone limited
    # (to nothing) instead of it silently becoming unlimited.
    """
    ALTER TABLE tokens ADD COLUMN limited INTEGER NOT NULL DEFAULT 0 CHECK (limited IN (0, 1));
    CREATE TABLE token_workspaces (
        token_id TEXT NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
        workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON UPDATE CASCADE ON DELETE CASCADE,
        PRIMARY KEY (token_id, workspace_id)
    );
    CREATE INDEX token_workspaces_workspace ON token_workspaces (workspace_id);
    """,
    # The original daemon's id (``ws-`` + SHA-1) beside ours (``ws_`` + SHA-256): rows elsewhere keep
    # referencing ``id``; ``daemon_id`` is filled by the registry (SQLite has no SHA-1) and, for a workspace
    # taken over from the original, is the id the original gave it. Remote workspaces have no folder: their
    # ``path`` is ``baseUrl::directory``, the string both ids hash.
    """
    ALTER TABLE workspaces ADD COLUMN daemon_id TEXT;
    ALTER TABLE workspaces ADD COLUMN kind TEXT NOT NULL DEFAULT 'local' CHECK (kind IN ('local', 'remote'));
    ALTER TABLE workspaces ADD COLUMN base_url TEXT;
    ALTER TABLE workspaces ADD COLUMN directory TEXT;
    ALTER TABLE workspaces ADD COLUMN last_used_at REAL;
    CREATE UNIQUE INDEX workspaces_daemon_id ON workspaces (daemon_id);
    """,
)


class _IntegrityCheckFailed(sqlite3.DatabaseError):
    """``PRAGMA quick_check`` found damage."""


# SQLite's own words for a file that is not a healthy database; anything else (a lock, a full disk, a
# read-only file) leaves the file where it is.
_CORRUPT_CODES = frozenset({"SQLITE_CORRUPT", "SQLITE_NOTADB"})
_BUSY_CODES = frozenset({"SQLITE_BUSY", "SQLITE_LOCKED"})


def _is_corrupt(exc: sqlite3.DatabaseError) -> bool:
    return isinstance(exc, _IntegrityCheckFailed) or getattr(exc, "sqlite_errorname", "") in _CORRUPT_CODES


def _is_busy(exc: sqlite3.DatabaseError) -> bool:
    return getattr(exc, "sqlite_errorname", "") in _BUSY_CODES


class Database:
    """One connection guarded by a lock; statements are short, so callers may use it from the loop."""

    def __init__(self, path: Path, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> None:
        self.path = path
        self.quarantined: Path | None = None
        self.opened_at_version = 0  # the schema version found on disk (0: a new file), for /system/health
        self._lock = threading.Lock()
        self._conn = self._open(busy_timeout)

    def _open(self, busy_timeout: float) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = self._connect(busy_timeout)
            self._check(conn)
        except sqlite3.DatabaseError as exc:
            if not _is_corrupt(exc):
                # Locked by another process (past the busy timeout), read-only, out of space...: the file
                # may be perfectly healthy, so it is never moved aside. Say so and stop.
                raise StoreError(
                    f"cannot open database {self.path}: {exc}"
                    + (" (another process holds a lock on it; nothing was changed)" if _is_busy(exc) else "")
                ) from exc
            self.quarantined = self._quarantine(exc)
            try:
                conn = self._connect(busy_timeout)
            except sqlite3.DatabaseError as again:
                raise StoreError(f"cannot open database {self.path}: {again}") from again
        try:
            self.opened_at_version = self._migrate(conn)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot migrate database {self.path}: {exc}") from exc
        return conn

    def _connect(self, busy_timeout: float) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        self.path.chmod(0o600)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.row_factory = sqlite3.Row
        return conn

    @staticmethod
    def _check(conn: sqlite3.Connection) -> None:
        try:
            row = conn.execute("PRAGMA quick_check").fetchone()
        except sqlite3.DatabaseError:
            conn.close()
            raise
        if row is None or row[0] != "ok":
            conn.close()
            raise _IntegrityCheckFailed(f"integrity check failed: {row[0] if row else 'no answer'}")

    def _quarantine(self, exc: Exception) -> Path:
        # Second resolution plus a random part: two quarantines in one second never overwrite each other.
        stamp = time.strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(self.path) + suffix)
            if src.exists():
                src.replace(Path(str(target) + suffix))
        log.warning(
            "store.quarantined",
            path=str(self.path),
            moved_to=str(target),
            reason=str(exc),
            message=f"database {self.path} was corrupt; moved aside to {target} and started fresh",
        )
        return target

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> int:
        """Apply the migrations the file lacks; returns the version it had."""
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > len(MIGRATIONS):
            raise sqlite3.DatabaseError(f"schema version {version} is newer than this openwork ({len(MIGRATIONS)})")
        for index in range(version, len(MIGRATIONS)):
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in MIGRATIONS[index].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {index + 1}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return version

    @property
    def schema_version(self) -> int:
        return int(self.query_one("PRAGMA user_version")[0])  # type: ignore[index]

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run statements atomically; everything or nothing is written."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                yield self._conn
                self._conn.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                self._rollback()
                raise storage_full(exc, str(self.path)) or StoreError(f"database write failed: {exc}") from exc
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        # After a failed COMMIT (SQLITE_FULL, an I/O error) SQLite may have rolled back by itself; a second
        # ROLLBACK would raise "cannot rollback - no transaction is active" and hide the real cause.
        if self._conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return list(self._conn.execute(sql, params).fetchall())
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"database read failed: {exc}") from exc

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def close(self) -> None:
        with self._lock:
            self._conn.close()
