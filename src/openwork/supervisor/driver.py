"""What the supervisor needs of a service: the part that differs between opencode, the router and a sandbox."""

from __future__ import annotations

from typing import Protocol

from openwork.supervisor.spawn import SpawnSpec

__all__ = ["ServiceDriver"]


class ServiceDriver(Protocol):
    """What differs between services: how to build the command, how to tell it is healthy."""

    async def prepare(self) -> SpawnSpec:
        """Build the command for the next attempt (e.g. pick a free port)."""
        ...

    async def healthy(self) -> bool:
        """One health probe of the current attempt; must have its own short timeout."""
        ...

    def details(self) -> dict[str, object]:
        """Extra fields for status output (port, url, version...)."""
        ...

    async def after_exit(self) -> None:
        """Clean up what outlives the process (a sandbox's container); most drivers have nothing to do."""
        ...
