"""A process named by ``(pid, create_time)``: a reused pid is never taken for the process we mean."""

from __future__ import annotations

import psutil

__all__ = ["TIME_SLACK", "same_process"]

TIME_SLACK = 0.05  # psutil create_time resolution is a clock tick


def same_process(pid: int, create_time: float) -> psutil.Process | None:
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - create_time) <= TIME_SLACK:
            return proc
    except psutil.Error:
        pass
    return None
