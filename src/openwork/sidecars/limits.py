"""Download deadlines and caps (kept apart from ``download`` so resolving from the cache stays import-light)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DownloadLimits"]

DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 30.0  # between two chunks, not for the whole body
DEFAULT_ATTEMPTS = 3
DEFAULT_RETRY_DELAY = 1.0  # doubled per attempt
DEFAULT_MAX_DOWNLOAD_BYTES = 1024 * 1024 * 1024  # when the manifest gives no size


@dataclass(frozen=True, kw_only=True, slots=True)
class DownloadLimits:
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    attempts: int = DEFAULT_ATTEMPTS
    retry_delay: float = DEFAULT_RETRY_DELAY
    max_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES
