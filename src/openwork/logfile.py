"""The log file: the unified stream as JSON lines in ``<data>/logs/openwork.jsonl``, rotated by size.

Every line is already redacted by the hub before it gets here. The file is the user's to send when
something goes wrong, so it is private (0600, opened without following a symlink) and capped: at most
``max_bytes * (backups + 1)`` on disk. Rotation renames ``.4 → .5``, …, the live file → ``.1``.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from openwork.constants import DEFAULT_LOG_FILE_BACKUPS, DEFAULT_LOG_FILE_MAX_BYTES

__all__ = ["LogFileSettings", "RotatingLog", "log_files", "read_records", "record_time"]

_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True, kw_only=True, slots=True)
class LogFileSettings:
    path: Path
    max_bytes: int = DEFAULT_LOG_FILE_MAX_BYTES
    backups: int = DEFAULT_LOG_FILE_BACKUPS


def log_files(path: Path, backups: int = DEFAULT_LOG_FILE_BACKUPS) -> list[Path]:
    """The live file and its rotated copies that exist, oldest first."""
    rotated = [path.with_name(f"{path.name}.{n}") for n in range(backups, 0, -1)]
    return [p for p in [*rotated, path] if p.is_file()]


class RotatingLog:
    """Appends lines; rotates before a line would take the live file past ``max_bytes``. A write that
    fails (disk full, file removed) is dropped: logging must never take the server down."""

    def __init__(self, settings: LogFileSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._file: TextIO | None = None
        self._size = 0

    def _open(self) -> TextIO:
        path = self.settings.path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, _FLAGS, 0o600)
        os.fchmod(fd, 0o600)
        handle = os.fdopen(fd, "a", encoding="utf-8")
        self._size = os.fstat(fd).st_size
        return handle

    def _rotate(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        path, backups = self.settings.path, self.settings.backups
        for n in range(backups - 1, 0, -1):
            older = path.with_name(f"{path.name}.{n}")
            if older.exists():
                older.replace(path.with_name(f"{path.name}.{n + 1}"))
        if backups > 0:
            path.replace(path.with_name(f"{path.name}.1"))
        else:
            path.unlink(missing_ok=True)

    def write(self, line: str) -> None:
        data = line + "\n"
        size = len(data.encode("utf-8"))
        with self._lock:
            try:
                if self._file is None:
                    self._file = self._open()
                if self._size and self._size + size > self.settings.max_bytes:
                    self._rotate()
                    self._file = self._open()
                self._file.write(data)
                self._file.flush()
                self._size += size
            except (OSError, ValueError):
                self.close_quietly()

    def close_quietly(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None

    def close(self) -> None:
        with self._lock:
            self.close_quietly()


def read_records(
    path: Path, *, backups: int = DEFAULT_LOG_FILE_BACKUPS, last: int | None = None
) -> list[dict[str, Any]]:
    """The records of the live file and its rotated copies, oldest first (``last``: only the newest N).
    A line that is not a JSON object (a torn write at a crash) is skipped."""
    keep: deque[dict[str, Any]] = deque(maxlen=last)
    for record in _records(log_files(path, backups)):
        keep.append(record)
    return list(keep)


def _records(files: list[Path]) -> Iterator[dict[str, Any]]:
    for file in files:
        try:
            with file.open(encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(record, dict):
                        yield record
        except OSError:
            continue


def record_time(record: dict[str, Any]) -> float:
    """A record's time in Unix seconds (0 when it has none)."""
    try:
        return int(record.get("timeUnixNano", 0)) / 1e9
    except (TypeError, ValueError):
        return 0.0
