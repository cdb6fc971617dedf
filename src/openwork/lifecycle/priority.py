"""Our own background threads yield the CPU: opencode's boot, and then the first requests, come first."""

from __future__ import annotations

import contextlib
import os
import threading

from openwork.constants import BACKGROUND_NICENESS

__all__ = ["lower_this_thread"]

_MAX_NICE = 19


def lower_this_thread() -> None:
    """Add ``BACKGROUND_NICENESS`` to the calling thread's nice value (Linux: nice is per thread).
    Best effort: where the platform has no per-thread priority, nothing changes."""
    with contextlib.suppress(OSError, AttributeError):
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(_MAX_NICE, current + BACKGROUND_NICENESS))
