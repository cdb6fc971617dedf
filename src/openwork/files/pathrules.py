"""Paths a client may name, and walking to them without ever following a symlink.

A client path is relative, ``/``-separated, and made of plain names. Every operation walks from the
workspace's root directory fd one component at a time with ``O_NOFOLLOW``, so a symlink anywhere in
the path (including one swapped in between two requests, or between our check and our use) makes the
operation fail instead of escaping the root.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator

from openwork.errors import ForbiddenError, NotFoundError, ValidationError

__all__ = ["MAX_COMPONENT_CHARS", "MAX_PATH_CHARS", "check_path", "open_parent", "open_root"]

MAX_PATH_CHARS = 1024
MAX_COMPONENT_CHARS = 255
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def check_path(raw: object) -> tuple[str, ...]:
    """The components of a client path, or ``ValidationError`` saying what is wrong with it."""
    if not isinstance(raw, str) or not raw:
        raise ValidationError("path must be a non-empty string")
    if len(raw) > MAX_PATH_CHARS:
        raise ValidationError(f"path is longer than {MAX_PATH_CHARS} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in raw):
        raise ValidationError("path contains control characters")
    if "\\" in raw:
        raise ValidationError("path contains a backslash; use '/'")
    if raw.startswith("/"):
        raise ValidationError("path must be relative to the workspace")
    parts = tuple(p for p in raw.split("/") if p not in ("", "."))
    if not parts:
        raise ValidationError("path names the workspace root itself")
    for part in parts:
        if part == "..":
            raise ValidationError("path must not contain '..'")
        if len(part.encode()) > MAX_COMPONENT_CHARS:
            raise ValidationError(f"a path component is longer than {MAX_COMPONENT_CHARS} bytes")
    return parts


def open_root(root: str) -> int:
    try:
        return os.open(root, _DIR_FLAGS)
    except OSError as exc:
        raise NotFoundError(f"workspace folder is not available: {exc.strerror}") from exc


@contextlib.contextmanager
def open_parent(root_fd: int, parts: tuple[str, ...], *, create: bool = False) -> Iterator[int]:
    """A directory fd for ``parts[:-1]`` under the root, walked with ``O_NOFOLLOW`` (and created when
    ``create``). Yields the fd; closes every fd it opened."""
    fds: list[int] = []
    current = root_fd
    try:
        for name in parts[:-1]:
            try:
                current = os.open(name, _DIR_FLAGS, dir_fd=current)
            except FileNotFoundError:
                if not create:
                    raise NotFoundError(f"no such folder: {'/'.join(parts[:-1])}") from None
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o755, dir_fd=current)
                current = os.open(name, _DIR_FLAGS, dir_fd=current)
            except OSError as exc:
                raise _mapped(exc, "/".join(parts[:-1])) from exc
            fds.append(current)
        yield current
    finally:
        for fd in reversed(fds):
            os.close(fd)


def _mapped(exc: OSError, where: str) -> Exception:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        # O_NOFOLLOW met a symlink (ELOOP), or a component is a file: either way not a folder we may enter.
        return ForbiddenError(f"{where} is not a folder inside the workspace (symlinks are not followed)")
    if exc.errno == errno.ENOENT:
        return NotFoundError(f"no such path: {where}")
    return ValidationError(f"{where}: {exc.strerror}")


def mapped(exc: OSError, where: str) -> Exception:
    return _mapped(exc, where)
