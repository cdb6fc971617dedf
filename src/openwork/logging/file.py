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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from openwork.constants import DEFAULT_LOG_FILE_BACKUPS, DEFAULT_LOG_FILE_MAX_BYTES

__all__ = [
    "LogFileSettings",
    "RotatingLog",
    "iter_records",
    "log_files",
    "parse_record",
    "read_records",
    "record_time",
]

_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True, kw_only=True, slots=True)
class LogFileSettings:
    path: Path
    max_bytes: int = DEFAULT_LOG_FILE_MAX_BYTES
    backups: int = DEFAULT_LOG_FILE_BACKUPS


def log_files(path: Path) -> list[Path]:
    """The live file and its rotated copies (``.1``, ``.2``, … whatever count the server kept), oldest first."""
    rotated = []
    for candidate in path.parent.glob(path.name + ".*"):
        suffix = candidate.name[len(path.name) + 1 :]
        if suffix.isdigit():
            rotated.append((int(suffix), candidate))
    return [p for _, p in sorted(rotated, reverse=True)] + ([path] if path.exists() else [])


class RotatingLog:
    """Appends lines; rotates before a line would take the live file past ``max_bytes``. A write that
    fails (disk full, file removed) is dropped: logging must never take the server down."""

    def __init__(self, settings: LogFileSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._file: TextIO | None = None
        self._size = 0
        self._inode = 0

    def _open(self) -> TextIO:
        path = self.settings.path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, _FLAGS, 0o600)
        try:
            os.fchmod(fd, 0o600)
            info = os.fstat(fd)
            handle = os.fdopen(fd, "a", encoding="utf-8")
        except BaseException:
            os.close(fd)
            raise
        self._inode, self._size = info.st_ino, info.st_size
        if self._size and _last_byte(path) != b"\n":
            handle.write("\n")  # a line torn by a crash ends here, not inside the next record
            self._size += 1
        return handle

    def _replaced(self) -> bool:
        """Whether the live path is no longer our file (another process rotated it meanwhile)."""
        try:
            return os.stat(self.settings.path).st_ino != self._inode
        except OSError:
            return True

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
        # A lone surrogate (from a crafted state file or request) is written escaped, never raised.
        encoded = (line + "\n").encode("utf-8", "backslashreplace")
        data, size = encoded.decode("utf-8"), len(encoded)
        with self._lock:
            try:
                if self._file is None:
                    self._file = self._open()
                if self._size and self._size + size > self.settings.max_bytes:
                    if self._replaced():  # rotated by someone else: write to the new file, do not rotate it
                        self.close_quietly()
                    else:
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
    path: Path, *, last: int | None = None, keep: Callable[[dict[str, Any]], bool] | None = None
) -> list[dict[str, Any]]:
    """The records of the live file and its rotated copies, oldest first: only those ``keep`` accepts,
    only the newest ``last`` of them (memory stays bounded by ``last``, not by the files' size). A line
    that is not a JSON object (a torn write at a crash) is skipped; a symlink is never followed."""
    found: deque[dict[str, Any]] = deque(maxlen=last)
    for record in iter_records(log_files(path)):
        if keep is None or keep(record):
            found.append(record)
    return list(found)


def iter_records(files: list[Path]) -> Iterator[dict[str, Any]]:
    for file in files:
        try:
            fd = os.open(file, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            continue
        with os.fdopen(fd, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                record = parse_record(line)
                if record is not None:
                    yield record


def parse_record(line: str) -> dict[str, Any] | None:
    """One line of the file as a record; None for a line that is not a JSON object (a torn write)."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def record_time(record: dict[str, Any]) -> float:
    """A record's time in Unix seconds (0 when it has none)."""
    try:
        return int(record.get("timeUnixNano", 0)) / 1e9
    except (TypeError, ValueError):
        return 0.0


def _last_byte(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return b"\n"
    try:
        return os.pread(fd, 1, max(0, os.fstat(fd).st_size - 1))
    finally:
        os.close(fd)
