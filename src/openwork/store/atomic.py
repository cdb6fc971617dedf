"""Atomic, private file writes: temp file in the same directory, fsync, rename, fsync the directory."""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from openwork.errors import StoreError

__all__ = ["ensure_private_dir", "read_text", "write_atomic"]

_TEMP_ATTEMPTS = 100  # random 48-bit names: a clash is all but impossible; a loop on one is not allowed


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make it 0700: it may hold secrets."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, 0o700)
    except OSError as exc:
        raise StoreError(f"cannot create directory {path}: {exc.strerror}") from exc
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
        raise StoreError(f"cannot write {path}: {exc.strerror}") from exc
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
        raise StoreError(f"cannot write {path}: {exc.strerror}") from exc


def _create_temp(directory: Path, name: str) -> tuple[int, str]:
    """A new private file next to the target, as ``tempfile.mkstemp`` makes it. (Not tempfile itself:
    with shutil it costs ~4 ms to import, on the way to spawning opencode when the tokens are new.)"""
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
