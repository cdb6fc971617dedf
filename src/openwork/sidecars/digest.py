"""Hashes of files."""

from __future__ import annotations

import mmap
from pathlib import Path

__all__ = ["file_digest", "file_sha256"]


def file_digest(path: Path, algorithm: str) -> bytes:
    """The file mapped and hashed in one call: hashlib drops the GIL for the whole of an opencode binary,
    so other threads run meanwhile instead of taking the GIL back between chunks (which made the hash
    several times slower). No copy through a read buffer.
    (Truncating the file in place while it is hashed would end the process with SIGBUS; our own writers
    replace files by rename, which leaves a mapped file intact.)"""
    import hashlib  # OpenSSL loads here, not on the way to spawning an external (unhashed) opencode

    digest = hashlib.new(algorithm)
    with path.open("rb") as handle:
        if handle.seek(0, 2) == 0:
            return digest.digest()  # an empty file cannot be mapped
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            digest.update(mapped)
    return digest.digest()


def file_sha256(path: Path) -> str:
    return file_digest(path, "sha256").hex()
