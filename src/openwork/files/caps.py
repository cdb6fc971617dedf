"""What one file-session request may ask for at most (per batch, per file, per page)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Caps"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Caps:
    """The caps of one request; a request over one is refused whole (nothing read or written)."""

    read_paths: int = 1000
    read_bytes: int = 32 * 1024 * 1024  # per batch
    file_bytes: int = 16 * 1024 * 1024  # per file, read or written
    write_files: int = 1000
    write_bytes: int = 32 * 1024 * 1024  # decoded, per batch
    operations: int = 1000
    catalog_limit: int = 10_000
    catalog_default: int = 1000
    events_limit: int = 10_000
