"""Connection limits of the HTTP server: how many, how long a client may take to send its first request,
and the process's file-descriptor ceiling.

uvicorn (0.54, h11) has no deadline for a connection's first request: one that sends part of its headers
and stops holds an fd and a protocol object forever, so a few hundred such connections exhaust the server.
``FirstRequestDeadline`` is uvicorn's own ``H11Protocol``, passed through ``Config(http=...)``, with one
timer added in ``connection_made``: no request by then, the connection is closed. A test pins the behaviour
to the installed uvicorn (tests/faults/test_slow_clients.py).
"""

from __future__ import annotations

import asyncio
import resource

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["FIRST_REQUEST_TIMEOUT", "KEEP_ALIVE_TIMEOUT", "MAX_CONNECTIONS", "FirstRequestDeadline", "raise_fd_limit"]

FIRST_REQUEST_TIMEOUT = 10.0  # seconds from connect to a complete first request line and headers
KEEP_ALIVE_TIMEOUT = 5  # seconds an idle keep-alive connection stays open (uvicorn's default, named)
# Connections + requests in flight before uvicorn answers 503: well under the fd limit, so the server can
# still open files, its database and connections to opencode when clients exhaust their share.
MAX_CONNECTIONS = 2048


class FirstRequestDeadline(H11Protocol):
    """``H11Protocol`` that closes a connection whose first request has not arrived in time."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._first_request_timer: asyncio.TimerHandle | None = self.loop.call_later(
            FIRST_REQUEST_TIMEOUT, self._first_request_overdue
        )

    def connection_lost(self, exc: Exception | None) -> None:
        if self._first_request_timer is not None:
            self._first_request_timer.cancel()
        super().connection_lost(exc)

    def _first_request_overdue(self) -> None:
        self._first_request_timer = None
        if self.cycle is None and not self.transport.is_closing():  # no request has started on it
            self.transport.close()


def raise_fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard one (many shells start at 1,024); returns the new soft."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            return target
        except (ValueError, OSError):
            return soft
    return soft
