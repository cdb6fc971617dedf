"""The stack: everything one server supervises, started and stopped in order."""

from __future__ import annotations

import asyncio

import structlog

from openwork.auth.credentials import Credentials
from openwork.config import ServerConfig
from openwork.events import EventBus
from openwork.logging import LogHub
from openwork.runtime.opencode import OpencodeDriver, opencode_env
from openwork.sidecars.resolver import ResolvedBinary
from openwork.supervisor.clock import Clock, MonotonicClock
from openwork.supervisor.process import AsyncioSpawner, Spawner
from openwork.supervisor.records import ChildRecords
from openwork.supervisor.service import Service
from openwork.supervisor.state import ServiceState, ServiceStatus

__all__ = ["Stack"]

log = structlog.get_logger("openwork.runtime")


class Stack:
    """opencode under supervision (the router joins here later). ``start`` waits for health."""

    def __init__(
        self,
        *,
        config: ServerConfig,
        binary: ResolvedBinary,
        credentials: Credentials,
        hub: LogHub,
        bus: EventBus,
        clock: Clock | None = None,
        spawner: Spawner | None = None,
    ) -> None:
        self.config = config
        self.records = ChildRecords(config.state_dir / "children.json")
        self.bus = bus
        self.hub = hub
        self.driver = OpencodeDriver(
            binary=binary,
            workspace=config.workspace,
            credentials=credentials,
            env=opencode_env(credentials=credentials, data_dir=config.data_dir, dev_mode=config.dev_mode),
            host=config.host if config.host != "localhost" else "127.0.0.1",
            preferred_port=config.opencode_port,
        )
        self.opencode = Service(
            name="opencode",
            driver=self.driver,
            spawner=spawner or AsyncioSpawner(records=self.records),
            clock=clock or MonotonicClock(),
            policy=config.policy,
            required=True,
            on_change=self._published,
            on_line=self._line,
            redact=hub.redactor,
        )

    @property
    def services(self) -> list[Service]:
        return [self.opencode]

    def _published(self, status: ServiceStatus) -> None:
        if status.name == "opencode":
            self.driver.mark_running(status.state is ServiceState.RUNNING)
        self.bus.publish("service.state", status.to_json())

    def _line(self, service: str, line: str, stream: str) -> None:
        self.hub.child_line(service, line, stream=stream)

    async def start(self) -> None:
        """Reap what a dead predecessor left, then start opencode and wait until it is healthy."""
        self.records.reap_leftovers()
        await self.opencode.start()

    async def wait_failed(self) -> Service:
        """Return the first required service that gives up (never returns while all are fine)."""
        waiters = {asyncio.ensure_future(s.gave_up.wait()): s for s in self.services if s.status().required}
        try:
            done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            return waiters[next(iter(done))]
        finally:
            for task in waiters:
                task.cancel()

    async def stop(self, *, force: bool = False) -> None:
        """Stop every service in reverse start order. Idempotent."""
        for service in reversed(self.services):
            await service.stop(force=force)
        await self.driver.aclose()

    def statuses(self) -> list[ServiceStatus]:
        return [s.status() for s in self.services]
