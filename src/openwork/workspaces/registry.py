"""Registered workspace folders in SQLite. Removing a workspace never touches its files."""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from openwork.errors import ConflictError, NotFoundError, ValidationError
from openwork.store.db import Database
from openwork.workspaces.info import Kind, WorkspaceInfo, info_of

__all__ = [
    "ENCODED_SLASH",
    "MAX_NAME_CHARS",
    "MAX_PATH_CHARS",
    "Kind",
    "Workspace",
    "WorkspaceInfo",
    "WorkspaceRegistry",
    "daemon_workspace_id",
    "remote_key",
    "validate_folder",
    "workspace_id",
]

MAX_PATH_CHARS = 4096
MAX_NAME_CHARS = 200
_ID_RE = re.compile(r"^ws_[0-9a-f]{12}$")
_DAEMON_ID_RE = re.compile(r"^ws-[0-9a-f]{12}$")
_ACTIVE_KEY = "active_workspace"
ENCODED_SLASH = "%2F"
_BY_ID = {
    "id": "SELECT * FROM workspaces WHERE id = ?",
    "daemon_id": "SELECT * FROM workspaces WHERE daemon_id = ?",
}


def workspace_id(path: Path | str) -> str:
    """``ws_`` + 12 hex of SHA-256 over the normalised absolute path (the original server's scheme): the
    same folder gets the same id on every start and on every machine where it lives at the same path."""
    return "ws_" + hashlib.sha256(os.fsencode(os.path.normpath(str(path)))).hexdigest()[:12]


def daemon_workspace_id(key: str) -> str:
    """``ws-`` + 12 hex of SHA-1 over the absolute path (or the remote key): the original daemon's scheme,
    which its state file, its CLI and the desktop app store."""
    return "ws-" + hashlib.sha1(os.fsencode(key), usedforsecurity=False).hexdigest()[:12]


def remote_key(base_url: str, directory: str | None) -> str:
    """What both ids of a remote workspace hash (the original daemon's ``baseUrl::directory``)."""
    return f"{base_url}::{directory}" if directory else base_url


def validate_folder(raw: str) -> Path:
    """An existing directory given as a plain path; returned resolved (realpath)."""
    if not raw or not raw.strip():
        raise ValidationError("folder path is empty")
    if len(raw) > MAX_PATH_CHARS:
        raise ValidationError(f"folder path is longer than {MAX_PATH_CHARS} characters")
    if "\x00" in raw or any(ord(c) < 32 for c in raw):
        raise ValidationError("folder path contains control characters")
    if ".." in PurePosixPath(raw).parts:
        raise ValidationError("folder path must not contain '..'; pass the folder itself")
    path = Path(raw).expanduser()
    if not path.is_absolute():
        raise ValidationError("folder path must be absolute")
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise ValidationError(f"folder {raw} does not exist") from None
    if not resolved.is_dir():
        raise ValidationError(f"{raw} is not a folder")
    return resolved


@dataclass(frozen=True, kw_only=True, slots=True)
class Workspace:
    id: str
    daemon_id: str
    path: str
    name: str
    created_at: float
    updated_at: float
    kind: Kind = "local"
    base_url: str | None = None
    directory: str | None = None
    last_used_at: float | None = None
    active: bool = False

    @property
    def remote(self) -> bool:
        return self.kind == "remote"

    def require_local(self) -> Workspace:
        """The record, if it has a folder here; a remote workspace is registered but not served."""
        if self.remote:
            raise ConflictError("remote workspaces are not served yet")
        return self

    def model(self) -> WorkspaceInfo:
        """The record as it goes on the wire."""
        return info_of(self)


class WorkspaceRegistry:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        self._fill_daemon_ids()

    def _fill_daemon_ids(self) -> None:
        """Rows written before the column existed get their ``ws-`` id (SQLite cannot compute SHA-1)."""
        rows = self._db.query("SELECT id, path FROM workspaces WHERE daemon_id IS NULL")
        if rows:
            with self._db.transaction() as conn:
                for row in rows:
                    conn.execute(
                        "UPDATE workspaces SET daemon_id = ? WHERE id = ?",
                        (daemon_workspace_id(row["path"]), row["id"]),
                    )

    def add(self, folder: Path, name: str | None = None, *, daemon_id: str | None = None) -> tuple[Workspace, bool]:
        """Register ``folder`` (already validated). Returns ``(record, created)``; a folder registered
        before returns its existing record. ``daemon_id``: the id the original daemon gave it (a take-over
        keeps it); by default the original's scheme over our path."""
        return self._insert(str(folder), name or folder.name or str(folder), daemon_id)

    def add_remote(
        self, base_url: str, directory: str | None, name: str | None, *, daemon_id: str | None = None
    ) -> tuple[Workspace, bool]:
        """Register a remote workspace (listed, not served). Its URL is listed to every reader and written to
        the state file, so it may not carry credentials."""
        if any(ord(c) < 32 or ord(c) == 127 for c in base_url):
            raise ValidationError("baseUrl contains control characters")
        try:
            parts = urlsplit(base_url)
            parts.port  # noqa: B018 (raises on a port that is not a number)
        except ValueError as exc:  # e.g. an unclosed '[' (an IPv6 literal) or a bad port
            raise ValidationError(f"baseUrl is not a valid URL: {exc}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValidationError("baseUrl must be an http(s) URL with a host")
        if parts.username is not None or parts.password is not None:
            raise ValidationError("baseUrl must not carry credentials (user:password@); give them to the client")
        key = remote_key(base_url, directory)
        return self._insert(key, name or base_url, daemon_id, base_url=base_url, directory=directory)

    def _insert(
        self,
        path: str,
        name: str,
        daemon_id: str | None,
        *,
        base_url: str | None = None,
        directory: str | None = None,
    ) -> tuple[Workspace, bool]:
        name = _clean_name(name)
        ws_id = _remote_id(path) if base_url else workspace_id(path)
        legacy = daemon_id if daemon_id and _DAEMON_ID_RE.match(daemon_id) else daemon_workspace_id(path)
        now = self._clock()
        with self._db.transaction() as conn:
            if conn.execute("SELECT 1 FROM workspaces WHERE daemon_id = ? AND id != ?", (legacy, ws_id)).fetchone():
                legacy = daemon_workspace_id(path)  # a taken-over id already names another folder
                if conn.execute("SELECT 1 FROM workspaces WHERE daemon_id = ? AND id != ?", (legacy, ws_id)).fetchone():
                    raise ConflictError(f"the id {legacy} already names another workspace")
            cursor = conn.execute(
                "INSERT OR IGNORE INTO workspaces (id, daemon_id, path, name, kind, base_url, directory, created_at,"
                " updated_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (ws_id, legacy, path, name, "remote" if base_url else "local", base_url, directory, now, now, now),
            )
            created = cursor.rowcount == 1
        return self.get(ws_id), created

    def list(self) -> list[Workspace]:
        active = self.active_id()
        rows = self._db.query("SELECT * FROM workspaces ORDER BY created_at, id")
        return [_row(r, active) for r in rows]

    def get(self, ws_id: str) -> Workspace:
        """By either id (``ws_…`` or the original daemon's ``ws-…``)."""
        row = self._db.query_one(_BY_ID[_id_column(ws_id)], (ws_id,))
        if row is None:
            raise NotFoundError("no such workspace")
        return _row(row, self.active_id())

    def lookup(self, ref: str, visible: Callable[[str], bool] | None = None) -> Workspace:
        """What the original's clients pass: an id (either scheme), else a folder path, else a unique name.
        ``visible`` (by canonical id): names are counted among those only, so a limited caller learns
        nothing from a 409 about workspaces it cannot see."""
        if _ID_RE.match(ref) or _DAEMON_ID_RE.match(ref):
            return self.get(ref)
        if ref.startswith(ENCODED_SLASH):  # a path sent as one URL segment (see openwork.api.guard)
            ref = ref.replace(ENCODED_SLASH, "/")
        if ref.startswith(("/", "~")):
            expanded = os.path.expanduser(ref)
            candidates = {os.path.normpath(expanded), os.path.realpath(expanded)}
            for row in self._db.query("SELECT * FROM workspaces WHERE kind = 'local'"):
                if row["path"] in candidates:
                    return _row(row, self.active_id())
        rows = self._db.query("SELECT * FROM workspaces WHERE name = ?", (ref,))
        rows = [row for row in rows if visible is None or visible(row["id"])]
        if len(rows) > 1:
            raise ConflictError(f"{len(rows)} workspaces are named {ref!r}; use an id or a path")
        if not rows:
            raise NotFoundError("no such workspace")
        return _row(rows[0], self.active_id())

    def rename(self, ws_id: str, name: str) -> Workspace:
        clean = _clean_name(name)
        record = self.lookup(ws_id)
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE workspaces SET name = ?, updated_at = ? WHERE id = ?", (clean, self._clock(), record.id)
            )
        return self.get(record.id)

    def remove(self, ws_id: str) -> Workspace:
        record = self.lookup(ws_id)
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM workspaces WHERE id = ?", (record.id,))
            conn.execute("DELETE FROM meta WHERE key = ? AND value = ?", (_ACTIVE_KEY, record.id))
        return record

    def activate(self, ws_id: str) -> Workspace:
        record = self.lookup(ws_id).require_local()
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (_ACTIVE_KEY, record.id),
            )
            conn.execute("UPDATE workspaces SET last_used_at = ? WHERE id = ?", (self._clock(), record.id))
        return self.get(record.id)

    def active_id(self) -> str | None:
        row = self._db.query_one("SELECT value FROM meta WHERE key = ?", (_ACTIVE_KEY,))
        return str(row[0]) if row else None

    def meta(self, key: str) -> str | None:
        row = self._db.query_one("SELECT value FROM meta WHERE key = ?", (key,))
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )


def _remote_id(key: str) -> str:
    return "ws_" + hashlib.sha256(key.encode()).hexdigest()[:12]


def _id_column(ws_id: str) -> str:
    if _ID_RE.match(ws_id):
        return "id"
    if _DAEMON_ID_RE.match(ws_id):
        return "daemon_id"
    # Same answer as an unknown id: ids are not secrets, but a malformed one is simply not there.
    raise NotFoundError("no such workspace")


def _clean_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise ValidationError("workspace name is empty")
    if len(name) > MAX_NAME_CHARS:
        raise ValidationError(f"workspace name is longer than {MAX_NAME_CHARS} characters")
    if any(ord(c) < 32 for c in name):
        raise ValidationError("workspace name contains control characters")
    return name


def _row(row: sqlite3.Row, active: str | None) -> Workspace:
    return Workspace(
        id=row["id"],
        daemon_id=row["daemon_id"] or daemon_workspace_id(row["path"]),
        kind=row["kind"],
        base_url=row["base_url"],
        directory=row["directory"],
        last_used_at=row["last_used_at"],
        path=row["path"],
        name=row["name"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        active=row["id"] == active,
    )
