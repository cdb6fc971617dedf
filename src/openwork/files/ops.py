"""File operations relative to a workspace's root fd. Writes are atomic per file (temp + rename)."""

from __future__ import annotations

import base64
import os
import shutil
import stat
from dataclasses import dataclass

from openwork.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError, storage_full
from openwork.files.pathrules import check_new_name, mapped, open_parent
from openwork.files.tempjournal import TEMP_PREFIX, TempJournal, temp_name

__all__ = ["FileResult", "delete", "mkdir", "read_file", "rename", "revision_of", "write_file"]

_FILE_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # NONBLOCK: a FIFO never hangs us
_TEMP_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def revision_of(st: os.stat_result) -> str:
    """Changes whenever the file is replaced or rewritten (our writes rename a new inode into place)."""
    return f"{st.st_mtime_ns:x}.{st.st_size:x}.{st.st_ino:x}"


@dataclass(frozen=True, slots=True)
class FileResult:
    path: str
    size: int
    revision: str


def _lstat(pfd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=pfd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def read_file(root_fd: int, parts: tuple[str, ...], *, max_bytes: int) -> tuple[FileResult, str]:
    """``(result, contentBase64)`` of a regular file of at most ``max_bytes``."""
    where = "/".join(parts)
    with open_parent(root_fd, parts) as pfd:
        try:
            fd = os.open(parts[-1], _FILE_READ, dir_fd=pfd)
        except OSError as exc:
            raise mapped(exc, where) from exc
        try:  # the fd is closed on every path: a folder or a FIFO is an error for this path only
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise ValidationError(f"{where} is not a regular file")
            if st.st_size > max_bytes:
                raise ValidationError(f"{where} is {st.st_size} bytes; the limit per file is {max_bytes}")
            data = _read_up_to(fd, max_bytes + 1)
        finally:
            os.close(fd)
        if len(data) > max_bytes:
            raise ValidationError(f"{where} grew past {max_bytes} bytes while being read")
    return FileResult(where, len(data), revision_of(st)), base64.b64encode(data).decode()


def _read_up_to(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(fd, min(limit - size, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def write_file(
    root_fd: int,
    parts: tuple[str, ...],
    data: bytes,
    *,
    if_match: str | None,
    force: bool,
    journal: TempJournal | None = None,
) -> FileResult:
    """Replace (or create) a file atomically. A stale ``if_match`` is a conflict unless ``force``.

    The temp file is recorded in ``journal`` before it exists, so a crash's leftover is removed at the
    next start. A full disk or quota is ``InsufficientStorage`` for this path; either way no partial file
    and no temp file is left.
    """
    where = "/".join(parts)
    name = parts[-1]
    if name.startswith(TEMP_PREFIX):
        raise ValidationError(f"{where}: names starting with {TEMP_PREFIX} are reserved")
    try:
        with open_parent(root_fd, parts, create=True) as pfd:
            current = _lstat(pfd, name)
            if current is None:
                check_new_name(name, os.listdir(pfd))
            if current is not None and stat.S_ISLNK(current.st_mode):
                raise ForbiddenError(f"{where} is a symlink; it is not followed or replaced")
            if current is not None and not stat.S_ISREG(current.st_mode):
                raise ConflictError(f"{where} exists and is not a regular file")
            if if_match is not None and not force:
                actual = revision_of(current) if current is not None else None
                if actual != if_match:
                    raise ConflictError(f"{where} changed since revision {if_match}")
            mode = stat.S_IMODE(current.st_mode) if current is not None else 0o644
            _replace(pfd, name, data, mode, journal)
            os.fsync(pfd)
            return FileResult(where, len(data), revision_of(os.stat(name, dir_fd=pfd, follow_symlinks=False)))
    except OSError as exc:
        raise storage_full(exc, where) or mapped(exc, where) from exc


def _replace(pfd: int, name: str, data: bytes, mode: int, journal: TempJournal | None) -> None:
    """Write ``data`` to a new temp file in ``pfd`` and rename it over ``name``; the temp never outlives
    this call except through a crash, and then the journal lists it."""
    temp = temp_name()
    entry = journal.add(pfd, temp) if journal is not None else None
    gone = True
    try:
        fd = os.open(temp, _TEMP_CREATE, mode, dir_fd=pfd)
    except BaseException:  # not created (O_EXCL): nothing of ours to remove
        if entry is not None and journal is not None:
            journal.done(entry)
        raise
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temp, name, src_dir_fd=pfd, dst_dir_fd=pfd)
    except BaseException:
        gone = _unlink_quietly(pfd, temp)
        raise
    finally:
        if entry is not None and journal is not None and gone:
            journal.done(entry)  # a temp we could not remove stays journaled for the next start


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _unlink_quietly(pfd: int, name: str) -> bool:
    """Remove ``name``; True when it is gone (removed, or never created)."""
    try:
        os.unlink(name, dir_fd=pfd)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def mkdir(root_fd: int, parts: tuple[str, ...]) -> None:
    where = "/".join(parts)
    try:
        with open_parent(root_fd, parts, create=True) as pfd:
            if _lstat(pfd, parts[-1]) is None:
                check_new_name(parts[-1], os.listdir(pfd))
            try:
                os.mkdir(parts[-1], 0o755, dir_fd=pfd)
            except FileExistsError:
                existing = _lstat(pfd, parts[-1])
                if existing is None or not stat.S_ISDIR(existing.st_mode):
                    raise ConflictError(f"{where} exists and is not a folder") from None
    except OSError as exc:
        raise storage_full(exc, where) or mapped(exc, where) from exc


def delete(root_fd: int, parts: tuple[str, ...], *, recursive: bool) -> None:
    where = "/".join(parts)
    with open_parent(root_fd, parts) as pfd:
        current = _lstat(pfd, parts[-1])
        if current is None:
            raise NotFoundError(f"no such path: {where}")
        if stat.S_ISDIR(current.st_mode):
            if recursive:
                shutil.rmtree(parts[-1], dir_fd=pfd)  # fd-based: does not follow symlinks inside
                return
            try:
                os.rmdir(parts[-1], dir_fd=pfd)
            except OSError as exc:
                raise ConflictError(f"{where} is a folder that is not empty; pass recursive") from exc
            return
        os.unlink(parts[-1], dir_fd=pfd)  # a symlink itself may be removed: that never escapes


def rename(root_fd: int, parts: tuple[str, ...], to: tuple[str, ...]) -> None:
    src, dst = "/".join(parts), "/".join(to)
    if to[: len(parts)] == parts:
        raise ValidationError(f"cannot move {src} into itself")
    with open_parent(root_fd, parts) as spfd, open_parent(root_fd, to, create=True) as dpfd:
        if _lstat(spfd, parts[-1]) is None:
            raise NotFoundError(f"no such path: {src}")
        if _lstat(dpfd, to[-1]) is not None:
            raise ConflictError(f"{dst} already exists")
        check_new_name(to[-1], os.listdir(dpfd))
        try:
            os.rename(parts[-1], to[-1], src_dir_fd=spfd, dst_dir_fd=dpfd)
        except OSError as exc:
            raise storage_full(exc, dst) or mapped(exc, src) from exc
