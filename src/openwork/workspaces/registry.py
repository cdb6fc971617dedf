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
from typing import Literal

from openwork.errors import NotFoundError, ValidationError
from openwork.store.db import Database
from openwork.wire import WireModel

__all__ = [
    "MAX_NAME_CHARS",
    "MAX_PATH_CHARS",
    "Workspace",
    "WorkspaceInfo",
    "WorkspaceRegistry",
    "validate_folder",
    "workspace_id",
]

MAX_PATH_CHARS = 4096
MAX_NAME_CHARS = 200
_ID_RE = re.compile(r"^ws_[0-9a-f]{12}$")
_ACTIVE_KEY = "active_workspace"


def workspace_id(path: Path) -> str:
    """``ws_`` + 12 hex of SHA-256 over the normalised absolute path: the same folder gets the same id
    on every start and on every machine where it lives at the same path."""
    return "ws_" + hashlib.sha256(os.fsencode(os.path.normpath(str(path)))).hexdigest()[:12]


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


def check_id(ws_id: str) -> str:
    if not _ID_RE.match(ws_id):
        # Same answer as an unknown id: ids are not secrets, but a malformed one is simply not there.
        raise NotFoundError("no such workspace")
    return ws_id


@dataclass(frozen=True, kw_only=True, slots=True)
class Workspace:
    id: str
    path: str
    name: str
    created_at: float
    updated_at: float
    active: bool = False

    def model(self) -> WorkspaceInfo:
        """The record as it goes on the wire."""
        return WorkspaceInfo(
            id=self.id,
            name=self.name,
            display_name=self.name,
            path=self.path,
            folder_path=self.path,
            active=self.active,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


class WorkspaceInfo(WireModel):
    """A registered workspace. ``displayName``/``folderPath``/``workspaceType`` are the V2 spellings of
    ``name``/``path``; both are sent because clients of either generation read them."""

    id: str
    name: str
    display_name: str
    path: str
    folder_path: str
    workspace_type: Literal["local"] = "local"
    active: bool
    created_at: float
    updated_at: float


class WorkspaceRegistry:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    def add(self, folder: Path, name: str | None = None) -> tuple[Workspace, bool]:
        """Register ``folder`` (already validated). Returns ``(record, created)``; a folder registered
        before returns its existing record."""
        name = _clean_name(name) if name else (folder.name or str(folder))
        ws_id = workspace_id(folder)
        now = self._clock()
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO workspaces (id, path, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                (ws_id, str(folder), name, now, now),
            )
            created = cursor.rowcount == 1
        return self.get(ws_id), created

    def list(self) -> list[Workspace]:
        active = self.active_id()
        rows = self._db.query("SELECT * FROM workspaces ORDER BY created_at, id")
        return [_row(r, active) for r in rows]

    def get(self, ws_id: str) -> Workspace:
        row = self._db.query_one("SELECT * FROM workspaces WHERE id = ?", (check_id(ws_id),))
        if row is None:
            raise NotFoundError("no such workspace")
        return _row(row, self.active_id())

    def rename(self, ws_id: str, name: str) -> Workspace:
        clean = _clean_name(name)
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE workspaces SET name = ?, updated_at = ? WHERE id = ?", (clean, self._clock(), check_id(ws_id))
            )
            if cursor.rowcount == 0:
                raise NotFoundError("no such workspace")
        return self.get(ws_id)

    def remove(self, ws_id: str) -> Workspace:
        record = self.get(ws_id)
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM workspaces WHERE id = ?", (record.id,))
            conn.execute("DELETE FROM meta WHERE key = ? AND value = ?", (_ACTIVE_KEY, record.id))
        return record

    def activate(self, ws_id: str) -> Workspace:
        self.get(ws_id)
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (_ACTIVE_KEY, ws_id),
            )
        return self.get(ws_id)

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
        path=row["path"],
        name=row["name"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        active=row["id"] == active,
    )
