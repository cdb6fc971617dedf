"""A journal of the temp files file-session writes create, so a crash's leftovers go at the next start.

A write creates ``<folder>/.owtmp-<random>``, fills it and renames it over the target. Before it creates
the temp file it appends the file's absolute path to this journal (fsynced); when the write ends, renamed
or removed, the entry is done, and a journal whose entries are all done is emptied. After a crash (a
SIGKILL, a power cut) the journal still lists the temp file, and :meth:`TempJournal.recover` at the next
start removes it.

Recovery touches nothing but what the journal lists, and of that only regular files named exactly as
:func:`temp_name` names them (``.owtmp-`` and 12 hex digits), reached from ``/`` one component at a time
without following a symlink. It walks no tree: a temp-looking file nobody journaled (another program's,
or from before this journal) stays.

Entries are raw path bytes framed by NUL on both sides (the one byte a path cannot hold). A torn append (a
crash, a full disk) leaves a piece without its closing NUL: it is ignored when last, and the next entry's
opening NUL cuts it off otherwise, so it can only ever read as a shortened name, which is never a temp name.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
import sys
import threading
from pathlib import Path

from openwork.errors import StoreError, storage_full
from openwork.logging import get_logger
from openwork.store.atomic import ensure_private_dir, move_aside, write_atomic

__all__ = ["COMPACT_BYTES", "JOURNAL_NAME", "TEMP_PREFIX", "TempJournal", "temp_name"]

log = get_logger("openwork.files")

TEMP_PREFIX = ".owtmp-"  # reserved: clients may not name a file so; listings and change events skip it
_TEMP_RANDOM_BYTES = 6  # 48 random bits (12 hex digits): a clash with another temp file is all but impossible
_TEMP_NAME = re.compile(re.escape(TEMP_PREFIX.encode()) + rb"[0-9a-f]{%d}" % (2 * _TEMP_RANDOM_BYTES))
JOURNAL_NAME = "file-temps.journal"  # in the server's state dir (``<data>/run``)
COMPACT_BYTES = 64 * 1024  # under steady concurrent writes, rewrite with just the live entries past this
_MAX_RECOVER_BYTES = 16 * 1024 * 1024  # read at most this much at start (compaction keeps it far smaller)
_SEP = b"\0"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_APPEND_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC


def temp_name() -> str:
    """A fresh name for a temp file: ``.owtmp-`` and 12 random hex digits."""
    return f"{TEMP_PREFIX}{secrets.token_hex(_TEMP_RANDOM_BYTES)}"


def _dir_path(dir_fd: int) -> bytes:
    """The absolute, symlink-free path of the open directory ``dir_fd``."""
    if sys.platform.startswith("linux"):
        return os.fsencode(os.readlink(f"/proc/self/fd/{dir_fd}"))
    import fcntl  # macOS and the BSDs: F_GETPATH

    raw = fcntl.fcntl(dir_fd, fcntl.F_GETPATH, bytes(1024))  # type: ignore[attr-defined,unused-ignore]
    return bytes(raw).rstrip(b"\0")


class TempJournal:
    """The temp files in flight, kept in one append-only file; thread-safe (workspaces write in parallel)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._live: set[bytes] = set()
        self._size = 0  # bytes in the file since it was last emptied or rewritten

    # -- at start ----------------------------------------------------------------------------------
    def recover(self) -> list[str]:
        """Remove the temp files a previous run journaled and left behind, then empty the journal.

        Call once, before any write. Returns the paths removed. Never fails a start over the journal: a
        path that is gone, is not a regular ``.owtmp-*`` file, or has a symlink on the way is skipped; a
        journal that is not a regular file is moved aside; one that cannot be emptied (in place, so a
        full disk is no obstacle) keeps names that recovery skips next time.
        """
        ensure_private_dir(self.path.parent, follow_symlinks=False)
        entries, raw_bytes = self._read_entries()
        removed = [os.fsdecode(e) for e in dict.fromkeys(entries) if _remove_listed(e)]
        with self._lock:
            self._live.clear()
            self._size = 0
            if raw_bytes:
                try:
                    self._empty()
                except OSError as exc:
                    log.warning("files.temp_journal_not_emptied", journal=str(self.path), error=exc.strerror)
        if entries:
            log.info("files.temps_recovered", journal=str(self.path), listed=len(entries), removed=len(removed))
        return removed

    def _read_entries(self) -> tuple[list[bytes], int]:
        """The complete entries, and how many bytes the file held."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            return [], 0
        except OSError as exc:
            return self._unreadable(exc.strerror or str(exc), aside=exc.errno == errno.ELOOP)
        chunks: list[bytes] = []
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return self._unreadable("not a regular file", aside=True)
            size = 0
            while size < _MAX_RECOVER_BYTES and (chunk := os.read(fd, min(1 << 20, _MAX_RECOVER_BYTES - size))):
                chunks.append(chunk)
                size += len(chunk)
        except OSError as exc:
            return self._unreadable(exc.strerror or str(exc), aside=False)
        finally:
            os.close(fd)
        raw = b"".join(chunks)
        # The last piece has no closing NUL when an append was torn or the read cut: either way it is skipped.
        return [e for e in raw.split(_SEP)[:-1] if e], len(raw)

    def _unreadable(self, why: str, *, aside: bool) -> tuple[list[bytes], int]:
        moved = None
        if aside:  # a symlink or a FIFO where our file belongs: keep it for a post-mortem, start fresh
            with contextlib.suppress(StoreError):
                moved = str(move_aside(self.path))
        log.warning("files.temp_journal_unreadable", journal=str(self.path), error=why, moved_to=moved)
        return [], 0

    # -- per write ---------------------------------------------------------------------------------
    def add(self, dir_fd: int, name: str) -> bytes:
        """Record that ``name`` is about to be created in the directory ``dir_fd``; returns the entry to
        pass to :meth:`done`. Raises ``InsufficientStorage`` (or ``StoreError``) when it cannot: then
        the caller must not create the file."""
        if not _TEMP_NAME.fullmatch(os.fsencode(name)):
            raise ValueError(f"not a name from temp_name(): {name!r}")
        try:
            entry = os.path.join(_dir_path(dir_fd), os.fsencode(name))
            framed = _SEP + entry + _SEP
            with self._lock:
                fd = os.open(self.path, _APPEND_FLAGS, 0o600)
                try:
                    if os.write(fd, framed) != len(framed):  # a short write to a regular file: no room left
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                    os.fsync(fd)
                finally:
                    os.close(fd)
                self._live.add(entry)
                self._size += len(framed)
        except OSError as exc:
            raise storage_full(exc, str(self.path)) or StoreError(
                f"cannot record a temp file in {self.path}: {exc.strerror}"
            ) from exc
        return entry

    def done(self, entry: bytes) -> None:
        """The temp file of ``entry`` is gone (renamed into place or removed). Never raises: a journal
        that cannot shrink only lists names that no longer exist, which recovery skips."""
        with self._lock:
            self._live.discard(entry)
            try:
                if not self._live and self._size:
                    self._empty()
                elif self._size > COMPACT_BYTES:
                    content = b"".join(_SEP + e + _SEP for e in self._live)
                    write_atomic(self.path, content)
                    self._size = len(content)
            except (OSError, StoreError) as exc:
                log.warning("files.temp_journal_not_compacted", journal=str(self.path), error=str(exc))

    def _empty(self) -> None:
        # Truncated in place, not rewritten through a temp file: the write that just finished already paid
        # two fsyncs, and a truncation a crash loses leaves only entries whose files are gone, which
        # recovery skips. Emptying is one metadata change, so no reader ever sees half an entry list.
        fd = os.open(self.path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)
        self._size = 0

    @property
    def live(self) -> int:
        """Temp files currently in flight."""
        with self._lock:
            return len(self._live)


def _remove_listed(entry: bytes) -> bool:
    """Unlink ``entry`` if it is a regular file with a temp name, reached without a symlink; True if removed."""
    parts = entry.split(b"/")
    if not entry.startswith(b"/") or not _TEMP_NAME.fullmatch(parts[-1]):
        return False
    folders = parts[1:-1]
    if any(p in (b"", b".", b"..") for p in folders):
        return False
    fds: list[int] = []
    try:
        current = os.open("/", _DIR_FLAGS)
        fds.append(current)
        for part in folders:
            current = os.open(part, _DIR_FLAGS, dir_fd=current)
            fds.append(current)
        st = os.stat(parts[-1], dir_fd=current, follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode):
            return False
        os.unlink(parts[-1], dir_fd=current)  # if swapped for a symlink since the stat, the link goes, not its target
        return True
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
            log.warning("files.temp_not_removed", path=os.fsdecode(entry), error=exc.strerror)
        return False
    finally:
        for fd in reversed(fds):
            os.close(fd)
