"""A process named by ``(pid, create_time)``: a reused pid is never taken for the process we mean.

And the boot it belongs to: after a reboot every pid and process group in an old record names a
stranger, so records carry the boot id and an old boot's are never acted on.
"""

from __future__ import annotations

import functools
from pathlib import Path

import psutil

__all__ = ["BOOT_ID_PATH", "TIME_SLACK", "boot_id", "same_process"]

TIME_SLACK = 0.05  # psutil create_time resolution is a clock tick
BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")  # Linux: a new random UUID every boot


def same_process(pid: int, create_time: float) -> psutil.Process | None:
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - create_time) <= TIME_SLACK:
            return proc
    except psutil.Error:
        pass
    return None


@functools.cache
def boot_id() -> str | None:
    """This boot's id: the kernel's boot_id, else (other systems) the boot time; ``None`` if neither."""
    try:
        value = BOOT_ID_PATH.read_text(encoding="ascii").strip()
        if value:
            return value
    except (OSError, UnicodeDecodeError):
        pass
    try:
        # Whole seconds: the kernel's boot time is fixed for a boot, the float psutil derives may jitter.
        return f"btime-{int(psutil.boot_time())}"
    except (psutil.Error, OSError):
        return None
