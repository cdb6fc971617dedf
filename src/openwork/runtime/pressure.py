"""Resource pressure of the running server, for ``/system/health``: what is close to running out.

A server that answers 200 while it is out of file descriptors is not healthy; ``degraded`` names each
resource whose use passed ``DEGRADED_FRACTION`` of its limit, so a monitor sees trouble before requests fail.
"""

from __future__ import annotations

import os
import resource

import psutil

from openwork.runtime.gateway import GATEWAY_MAX_CONNECTIONS

__all__ = ["DEGRADED_FRACTION", "THREAD_BUDGET", "degraded"]

DEGRADED_FRACTION = 0.8
# Threads the server expects to need at most: asyncio's default worker pool (min(32, cores + 4)), the log
# readers, the inotify watchers and uvicorn. Far more means something is stuck or leaking.
THREAD_BUDGET = 256


def _fds() -> tuple[int, int]:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return len(os.listdir("/proc/self/fd")), soft


def _upstream(port: int | None) -> int:
    if port is None:
        return 0
    connections = psutil.Process().net_connections(kind="tcp")
    return sum(1 for c in connections if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED)


def degraded(*, opencode_port: int | None) -> list[str]:
    """The names of the resources past ``DEGRADED_FRACTION`` of their limit: ``fds``, ``threads``,
    ``upstream_connections`` (to opencode)."""
    out = []
    used, limit = _fds()
    if limit > 0 and used > DEGRADED_FRACTION * limit:
        out.append("fds")
    if psutil.Process().num_threads() > DEGRADED_FRACTION * THREAD_BUDGET:
        out.append("threads")
    if _upstream(opencode_port) > DEGRADED_FRACTION * GATEWAY_MAX_CONNECTIONS:
        out.append("upstream_connections")
    return out
