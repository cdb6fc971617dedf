"""Atomic, private file writes: temp file in the same directory, fsync, rename, fsync the directory."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import time
from pathlib import Path

from openwork.errors import StoreError, storage_full

__all__ = ["ensure_private_dir", "move_aside", "read_regular", "read_text", "write_atomic"]

_TEMP_ATTEMPTS = 100  # random 48-bit names: a clash is all but impossible; a loop on one is not allowed
_ASIDE_ATTEMPTS = 100  # the same for the names bad files are moved to


def ensure_private_dir(path: Path, *, follow_symlinks: bool = True) -> Path:
    """Create ``path`` (and parents) and make it 0700: it may hold secrets.

    ``follow_symlinks=False``: a symlink at ``path`` is an error and its target is never chmodded.
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
        if follow_symlinks:
            os.chmod(path, 0o700)
            return path
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.fchmod(fd, 0o700)
        finally:
            os.close(fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise StoreError(f"{path} is a symlink or not a directory; refusing to use it") from exc
        raise storage_full(exc, str(path)) or StoreError(f"cannot create directory {path}: {exc.strerror}") from exc
    return path


def write_atomic(path: Path, data: bytes | str, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new content, never a mix.

    A crash before the rename leaves the old file intact and at most a stray temp file, which the
    next write of the same path does not trip over (names are random).
    """
    payload = data.encode() if isinstance(data, str) else data
    directory = path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = _create_temp(directory, path.name)
    except OSError as exc:
        raise storage_full(exc, str(path)) or StoreError(f"cannot write {path}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise storage_full(exc, str(path)) or StoreError(f"cannot write {path}: {exc.strerror}") from exc


def _create_temp(directory: Path, name: str) -> tuple[int, str]:
    """A new private file next to the target, as ``tempfile.mkstemp`` makes it (``O_EXCL``, mode 0600)."""
    for _ in range(_TEMP_ATTEMPTS):
        tmp_name = os.path.join(directory, f".{name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(tmp_name, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600), tmp_name
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, f"no free temporary name in {directory}")


def read_text(path: Path) -> str | None:
    """The file's text, or ``None`` when it does not exist."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"cannot read {path}: {exc}") from exc


def read_regular(path: Path, *, max_bytes: int, private: bool = False) -> bytes | None:
    """The bytes of the regular file ``path``, or ``None`` when it does not exist.

    A symlink is never followed (``O_NOFOLLOW``); a FIFO, a device or a directory, or a file larger than
    ``max_bytes``, is a :class:`StoreError` (never a hang: the open does not block). ``private``: a file
    that others may read or write is made 0600 through the open descriptor, so nothing but the file itself
    is ever chmodded. Error messages never quote the content.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StoreError(f"{path} is a symlink; refusing to follow it") from exc
        raise StoreError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise StoreError(f"{path} is not a regular file")
        if info.st_size > max_bytes:
            raise StoreError(f"{path} is larger than {max_bytes} bytes")
        if private and info.st_mode & 0o077:
            os.fchmod(fd, 0o600)  # tighten a file a user copied in with loose permissions
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from exc
    finally:
        os.close(fd)
    if len(data) > max_bytes:  # it grew after the fstat
        raise StoreError(f"{path} is larger than {max_bytes} bytes")
    return data


def move_aside(path: Path) -> Path:
    """Rename ``path`` (a file, a symlink, anything) to ``<name>.bad-<UTC time>-<random>`` next to it,
    keeping it for a post-mortem, and return the new path. Never replaces an existing file: the random
    part makes a clash all but impossible, and a name that exists is skipped."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    try:
        for _ in range(_ASIDE_ATTEMPTS):
            target = path.with_name(f"{path.name}.bad-{stamp}-{os.urandom(6).hex()}")
            if not os.path.lexists(target):
                os.rename(path, target)
                return target
    except OSError as exc:
        raise StoreError(f"cannot move {path} aside: {exc.strerror}") from exc
    raise StoreError(f"no free name to move {path} aside")
