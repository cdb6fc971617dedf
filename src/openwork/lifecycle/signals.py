"""How a run is asked to stop: a signal (exit 130 / 143) or ``POST /shutdown`` (exit 0)."""

from __future__ import annotations

import asyncio
import signal

from openwork.logging import get_logger

__all__ = ["EXIT_SIGINT", "EXIT_SIGTERM", "Signals"]

log = get_logger("openwork.server")

EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class Signals:
    """SIGINT/SIGTERM and ``POST /shutdown``: the first asks for an orderly stop, a second signal forces."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.force = asyncio.Event()
        self.received: int | None = None
        self.shutdown_requested = False

    def request_shutdown(self) -> None:
        """``POST /shutdown``: an orderly stop that exits 0."""
        if self.received is None and not self.shutdown_requested:
            log.info("server.shutdown_requested")
            self.shutdown_requested = True
            self.stop.set()

    @property
    def stopping(self) -> bool:
        return self.received is not None or self.shutdown_requested

    def __call__(self, sig: int) -> None:
        if self.received is None:
            self.received = sig
            log.info("server.signal", signal=signal.Signals(sig).name, action="orderly stop")
            self.stop.set()
        else:
            log.warning("server.signal", signal=signal.Signals(sig).name, action="force stop")
            self.force.set()

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self, sig)

    def remove(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)

    @property
    def exit_code(self) -> int:
        if self.received is None:
            return 0  # asked to stop over the API
        return EXIT_SIGTERM if self.received == signal.SIGTERM else EXIT_SIGINT
