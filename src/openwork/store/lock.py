"""The data dir's single-server lock: one non-blocking ``flock`` held for the life of the process.

Not ``filelock`` (which the sidecar cache uses for its timed locks): nothing here needs a timeout.
The kernel drops the lock when the process dies, however it dies: a stale lock file never blocks.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from openwork.errors import Held, StoreError

__all__ = ["DataDirLock", "Held"]


class DataDirLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock now or raise :class:`Held`. The file is created 0600 if missing."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot open lock file {self.path}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            raise Held(f"{self.path} is locked by another process") from exc
        self._fd = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Idempotent."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
