"""File operations relative to a workspace's root fd. Writes are atomic per file (temp + rename)."""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import shutil
import stat
from dataclasses import dataclass

from openwork.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from openwork.files.pathrules import mapped, open_parent

__all__ = ["FileResult", "delete", "mkdir", "read_file", "rename", "revision_of", "write_file"]

_FILE_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # NONBLOCK: a FIFO never hangs us
_TEMP_PREFIX = ".owtmp-"


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
        with os.fdopen(fd, "rb") as handle:
            st = os.fstat(handle.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise ValidationError(f"{where} is not a regular file")
            if st.st_size > max_bytes:
                raise ValidationError(f"{where} is {st.st_size} bytes; the limit per file is {max_bytes}")
            data = handle.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise ValidationError(f"{where} grew past {max_bytes} bytes while being read")
    return FileResult(where, len(data), revision_of(st)), base64.b64encode(data).decode()


def write_file(root_fd: int, parts: tuple[str, ...], data: bytes, *, if_match: str | None, force: bool) -> FileResult:
    """Replace (or create) a file atomically. A stale ``if_match`` is a conflict unless ``force``."""
    where = "/".join(parts)
    name = parts[-1]
    if name.startswith(_TEMP_PREFIX):
        raise ValidationError(f"{where}: names starting with {_TEMP_PREFIX} are reserved")
    with open_parent(root_fd, parts, create=True) as pfd:
        current = _lstat(pfd, name)
        if current is not None and stat.S_ISLNK(current.st_mode):
            raise ForbiddenError(f"{where} is a symlink; it is not followed or replaced")
        if current is not None and not stat.S_ISREG(current.st_mode):
            raise ConflictError(f"{where} exists and is not a regular file")
        if if_match is not None and not force:
            actual = revision_of(current) if current is not None else None
            if actual != if_match:
                raise ConflictError(f"{where} changed since revision {if_match}")
        mode = stat.S_IMODE(current.st_mode) if current is not None else 0o644
        temp = f"{_TEMP_PREFIX}{secrets.token_hex(6)}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=pfd)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.rename(temp, name, src_dir_fd=pfd, dst_dir_fd=pfd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=pfd)
            raise
        os.fsync(pfd)
        return FileResult(where, len(data), revision_of(os.stat(name, dir_fd=pfd, follow_symlinks=False)))


def mkdir(root_fd: int, parts: tuple[str, ...]) -> None:
    where = "/".join(parts)
    with open_parent(root_fd, parts, create=True) as pfd:
        try:
            os.mkdir(parts[-1], 0o755, dir_fd=pfd)
        except FileExistsError:
            existing = _lstat(pfd, parts[-1])
            if existing is None or not stat.S_ISDIR(existing.st_mode):
                raise ConflictError(f"{where} exists and is not a folder") from None


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
        try:
            os.rename(parts[-1], to[-1], src_dir_fd=spfd, dst_dir_fd=dpfd)
        except OSError as exc:
            raise mapped(exc, src) from exc
