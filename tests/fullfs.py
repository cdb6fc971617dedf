"""A real, small filesystem that tests can fill: a tmpfs mounted for one test and unmounted after.

Needs root (mount(2)); a test that cannot mount skips and says why. RLIMIT_FSIZE is no stand-in: it gives
EFBIG, not the ENOSPC a full disk gives.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["FILLER", "fill", "free_bytes", "small_tmpfs"]

FILLER = ".filler"  # the file that takes the last free block
_MOUNT_TIMEOUT = 10.0  # seconds for mount / umount to answer
_CHUNK = 4096


@contextlib.contextmanager
def small_tmpfs(where: Path, *, size_kib: int) -> Iterator[Path]:
    """Mount a ``size_kib`` tmpfs at ``where`` (created) for the block; unmount it on every path."""
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        timeout=_MOUNT_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill (needs root and mount(2)): {done.stderr.strip()}")
    try:
        yield where
    finally:
        done = subprocess.run(["umount", str(where)], capture_output=True, text=True, timeout=_MOUNT_TIMEOUT)
        if done.returncode != 0:
            # Busy: the test left a file open there. Detach it anyway (no mount outlives the test), and fail.
            subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=_MOUNT_TIMEOUT, check=False)
            raise AssertionError(f"{where} was still in use at teardown: {done.stderr.strip()}")


def free_bytes(where: Path) -> int:
    st = os.statvfs(where)
    return st.f_bavail * st.f_frsize


def fill(where: Path, *, leave: int = 0) -> Path:
    """Take every free byte of ``where``'s filesystem but about ``leave`` (a whole block) with one file."""
    path = where / FILLER
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        while free_bytes(where) > leave:
            try:
                os.write(fd, b"\0" * _CHUNK)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
    finally:
        os.close(fd)
    return path
