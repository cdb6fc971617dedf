"""Streaming hashes of files."""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["file_digest", "file_sha256"]

_CHUNK = 1024 * 1024


def file_digest(path: Path, algorithm: str) -> bytes:
    digest = hashlib.new(algorithm)
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.digest()


def file_sha256(path: Path) -> str:
    return file_digest(path, "sha256").hex()
