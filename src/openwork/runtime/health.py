"""Health of the supervised services as the API reports it: their status plus a live probe, so routes
ask one object instead of reaching into the stack's drivers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from openwork.runtime.pressure import degraded
from openwork.supervisor.state import ServiceState, ServiceStatus

if TYPE_CHECKING:
    from openwork.runtime.stack import Stack

__all__ = ["ProbedStatus", "StackHealth"]


@dataclass(frozen=True, kw_only=True, slots=True)
class ProbedStatus:
    """A service's status and what its health probe answered (``None``: no answer, or not probed)."""

    status: ServiceStatus
    healthy: bool
    answer: dict[str, object] | None = None


class StackHealth:
    """Probes the stack's services; every probe has the driver's own request timeout."""

    def __init__(self, stack: Stack) -> None:
        self._stack = stack

    async def degraded(self) -> list[str]:
        """The server's resources near their limit (read from /proc, off the event loop)."""
        return await asyncio.to_thread(degraded, opencode_port=self._stack.driver.port)

    async def opencode(self) -> ProbedStatus:
        """opencode's status; healthy when it runs and answers its health check."""
        status = self._stack.opencode.status()
        running = status.state is ServiceState.RUNNING
        return ProbedStatus(status=status, healthy=running and await self._stack.driver.healthy())

    async def router(self) -> ProbedStatus | None:
        """The router's status and its own health answer; ``None`` when the router is not in the stack."""
        if self._stack.router is None or self._stack.router_driver is None:
            return None
        status = self._stack.router.status()
        answer = await self._stack.router_driver.health() if status.state is ServiceState.RUNNING else None
        return ProbedStatus(status=status, healthy=answer is not None, answer=answer)
