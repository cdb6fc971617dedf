"""What changed in a workspace, as a cursor-addressed log: the server's own writes plus a file watcher."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import select
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from openwork.files.tempjournal import TEMP_PREFIX
from openwork.lifecycle.libc import libc
from openwork.logging import get_logger
from openwork.wire import WireModel

__all__ = ["Change", "ChangeInfo", "ChangeLog", "InotifyWatcher"]

log = get_logger("openwork.files")

DEFAULT_LOG_SIZE = 10_000
WATCH_POLL_TIMEOUT = 0.5  # the watcher thread checks for stop this often (stop() also wakes it)


@dataclass(frozen=True, slots=True)
class Change:
    seq: int
    path: str
    kind: str  # write | delete | mkdir | rename
    at: float

    def model(self) -> ChangeInfo:
        """The change as it goes on the wire."""
        return ChangeInfo(seq=self.seq, cursor=str(self.seq), path=self.path, kind=self.kind, at=self.at)

    def to_json(self) -> dict[str, object]:
        """The wire dict; kept for ``FilesService.events`` (openwork.files.service)."""
        return self.model().wire()


class ChangeInfo(WireModel):
    """One entry of a workspace's change log; ``cursor`` is ``seq`` as the string to resume after."""

    seq: int
    cursor: str
    path: str
    kind: str  # write | delete | mkdir | rename
    at: float


class ChangeLog:
    """A bounded log; a cursor older than what it still holds is answered with ``truncated``."""

    def __init__(self, size: int = DEFAULT_LOG_SIZE) -> None:
        self._items: deque[Change] = deque(maxlen=size)
        self._seq = 0
        self._lock = threading.Lock()

    @property
    def cursor(self) -> str:
        return str(self._seq)

    def record(self, path: str, kind: str) -> None:
        with self._lock:
            last = self._items[-1] if self._items else None
            if last is not None and last.path == path and last.kind == kind and time.time() - last.at < 1.0:
                return  # the watcher echoing our own write
            self._seq += 1
            self._items.append(Change(self._seq, path, kind, time.time()))

    def since(self, cursor: int, limit: int) -> tuple[list[Change], str, bool]:
        with self._lock:
            oldest = self._items[0].seq if self._items else self._seq + 1
            truncated = cursor + 1 < oldest and cursor < self._seq
            items = [c for c in self._items if c.seq > cursor][:limit]
            more = len(items) == limit and items[-1].seq < self._seq
            return items, str(items[-1].seq if more else self._seq), truncated


# -- inotify (Linux) -------------------------------------------------------------------------------

_IN_MODIFY, _IN_CLOSE_WRITE, _IN_MOVED_FROM, _IN_MOVED_TO = 0x2, 0x8, 0x40, 0x80
_IN_CREATE, _IN_DELETE, _IN_DELETE_SELF, _IN_ISDIR, _IN_Q_OVERFLOW = 0x100, 0x200, 0x400, 0x40000000, 0x4000
_MASK = _IN_CLOSE_WRITE | _IN_MOVED_FROM | _IN_MOVED_TO | _IN_CREATE | _IN_DELETE | _IN_DELETE_SELF
_EVENT = struct.Struct("iIII")


class InotifyWatcher:
    """Watches every folder of a workspace (new folders too) and records changes into a ``ChangeLog``.

    Best effort: without inotify (not Linux) or past the kernel's watch limit, the log still has the
    server's own writes, and the watcher says so once in the log stream.
    """

    def __init__(self, root: Path, changes: ChangeLog, excludes: frozenset[str]) -> None:
        self._root = root
        self._changes = changes
        self._excludes = excludes
        self._wds: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._fd = -1
        self._wake = (-1, -1)  # a pipe: stop() writes to it so the thread leaves select at once
        self._libc: ctypes.CDLL | None = None

    def start(self) -> bool:
        self._libc = libc()
        if self._libc is None or not hasattr(os, "O_CLOEXEC"):
            return False
        try:
            self._fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        except (OSError, AttributeError):
            return False
        if self._fd < 0:
            return False
        self._wake = os.pipe()
        self._add_tree("")
        self._thread = threading.Thread(target=self._run, name="openwork-files-watch", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        self._stop.set()
        if self._wake[1] >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wake[1], b"x")
        if self._thread is not None:
            self._thread.join(WATCH_POLL_TIMEOUT * 4)
        for fd in (self._fd, *self._wake):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._fd, self._wake = -1, (-1, -1)

    def _add(self, rel: str) -> bool:
        assert self._libc is not None
        path = os.fsencode(str(self._root / rel) if rel else str(self._root))
        wd = self._libc.inotify_add_watch(self._fd, path, _MASK | 0x01000000)  # IN_ONLYDIR
        if wd < 0:
            if ctypes.get_errno() == errno.ENOSPC:
                log.warning("files.watch_limit", root=str(self._root), message="inotify watch limit reached")
            return False
        self._wds[wd] = rel
        return True

    def _add_tree(self, rel: str) -> None:
        if not self._add(rel):
            return
        base = self._root / rel if rel else self._root
        with contextlib.suppress(OSError), os.scandir(base) as it:
            for entry in it:
                if entry.name not in self._excludes and entry.is_dir(follow_symlinks=False):
                    self._add_tree(f"{rel}/{entry.name}" if rel else entry.name)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._fd, self._wake[0]], [], [], WATCH_POLL_TIMEOUT)
                if self._fd not in ready:
                    continue
                data = os.read(self._fd, 64 * 1024)
            except OSError:
                return
            self._parse(data)

    def _parse(self, data: bytes) -> None:
        offset = 0
        while offset + _EVENT.size <= len(data):
            wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
            raw = data[offset + _EVENT.size : offset + _EVENT.size + length].rstrip(b"\0")
            offset += _EVENT.size + length
            if mask & _IN_Q_OVERFLOW:
                self._changes.record("", "overflow")
                continue
            base = self._wds.get(wd)
            name = os.fsdecode(raw)
            if base is None or not name or name in self._excludes or name.startswith(TEMP_PREFIX):
                continue
            rel = f"{base}/{name}" if base else name
            if mask & _IN_ISDIR and mask & (_IN_CREATE | _IN_MOVED_TO):
                self._add_tree(rel)
                self._changes.record(rel, "mkdir")
            elif mask & (_IN_DELETE | _IN_MOVED_FROM):
                self._changes.record(rel, "delete")
            elif mask & (_IN_CLOSE_WRITE | _IN_MOVED_TO | _IN_CREATE):
                self._changes.record(rel, "write")
