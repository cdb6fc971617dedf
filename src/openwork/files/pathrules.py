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
import unicodedata
from collections.abc import Iterable, Iterator

from openwork.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError

__all__ = ["MAX_COMPONENT_CHARS", "MAX_PATH_CHARS", "check_new_name", "check_path", "open_parent", "open_root"]

MAX_PATH_CHARS = 1024
MAX_COMPONENT_CHARS = 255
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def check_path(raw: object) -> tuple[str, ...]:
    """The components of a client path, or ``ValidationError`` saying what is wrong with it."""
    if not isinstance(raw, str) or not raw:
        raise ValidationError("path must be a non-empty string")
    if len(raw) > MAX_PATH_CHARS:
        raise ValidationError(f"path is longer than {MAX_PATH_CHARS} characters")
    if any(_is_control(c) for c in raw):
        raise ValidationError("path contains control or bidirectional-override characters")
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


# Bidirectional overrides and marks: they make ``docs/\u202egnp.sh`` display as ``docs/hs.png``.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
_JOINERS = frozenset("\u200c\u200d")  # ZWNJ / ZWJ: part of ordinary names in several scripts (and emoji)


def _is_control(c: str) -> bool:
    code = ord(c)
    return code < 0x20 or 0x7F <= code <= 0x9F or c in _BIDI  # C0, DEL, C1, bidi


def check_new_name(name: str, existing: Iterable[str]) -> None:
    """Extra rules for a name being created (write, mkdir, rename target): no invisible format characters
    (Unicode Cf, except the joiners), and no name that normalises (NFC) to a different existing entry's
    (``café`` composed vs decomposed: two files a person cannot tell apart). Reads take exact bytes, so
    NFD names written on macOS stay readable."""
    if any(unicodedata.category(c) == "Cf" and c not in _JOINERS for c in name):
        raise ValidationError("a new name must not contain invisible format characters")
    nfc = unicodedata.normalize("NFC", name)
    for other in existing:
        if other != name and unicodedata.normalize("NFC", other) == nfc:
            raise ConflictError(f"{name!r} looks the same as the existing {other!r} (Unicode normalisation)")


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
