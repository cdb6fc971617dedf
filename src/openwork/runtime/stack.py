"""The stack: everything one server supervises, started and stopped in order."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from openwork.auth.credentials import Credentials
from openwork.config import ServerConfig
from openwork.errors import SupervisorError
from openwork.logging import LogHub, get_logger
from openwork.runtime.childenv import ChildEnv
from openwork.runtime.events import EventBus
from openwork.runtime.opencode import OpencodeDriver, stack_keeps, stack_opencode_env
from openwork.runtime.router import RouterDriver
from openwork.runtime.tools import router_state_file
from openwork.sidecars.resolver import ResolvedBinary
from openwork.supervisor.clock import Clock, MonotonicClock
from openwork.supervisor.policy import Liveness
from openwork.supervisor.process import AsyncioSpawner, Spawner
from openwork.supervisor.records import ChildRecords
from openwork.supervisor.service import Service, ServiceDriver
from openwork.supervisor.state import ServiceState, ServiceStatus

if TYPE_CHECKING:
    from openwork.sandbox.engine import ContainerEngine
    from openwork.sandbox.mounts import Mount

__all__ = ["SandboxSetup", "Stack"]


@dataclass(frozen=True, kw_only=True, slots=True)
class SandboxSetup:
    """Everything checked before a sandboxed stack is built: the engine, the image, the mounts."""

    engine: ContainerEngine
    image: str
    persist_dir: Path
    mounts: tuple[Mount, ...]
    container_binary: Path


log = get_logger("openwork.runtime")


class Stack:
    """opencode, and the optional router, under supervision. ``start`` waits for opencode's health."""

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
        router_binary: ResolvedBinary | None = None,
        sandbox: SandboxSetup | None = None,
    ) -> None:
        self.config = config
        self.records = ChildRecords(config.dirs.children)
        self.bus = bus
        self.hub = hub
        self.sandbox = sandbox
        # The env store and environment fixes, at every spawn; its values are secrets to the log.
        self.child_env = ChildEnv(config.env_store, redact=hub.redactor.add)
        self.driver: OpencodeDriver
        if sandbox is not None:
            from openwork.sandbox.driver import SandboxDriver  # imported only for a sandbox: not on every start

            self.driver = SandboxDriver(
                binary=binary,
                container_binary=sandbox.container_binary,
                workspace=config.workspace,
                credentials=credentials,
                base_env=os.environ,
                preferred_port=config.opencode_port,
                fixed_port=config.opencode_port_fixed,
                engine=sandbox.engine,
                image=sandbox.image,
                persist_dir=sandbox.persist_dir,
                mounts=sandbox.mounts,
                data_dir=config.data_dir,
                run_id=config.run_id,
                limits=config.sandbox_limits(),
                child_env=self.child_env,
            )
        else:
            self.driver = OpencodeDriver(
                binary=binary,
                workspace=config.workspace,
                credentials=credentials,
                env=stack_opencode_env(config, credentials.opencode, router=router_binary is not None),
                host=config.opencode_host,  # a loopback address: opencode resolves no names
                preferred_port=config.opencode_port,
                fixed_port=config.opencode_port_fixed,
                cors=config.opencode_cors,
                child_env=self.child_env,
                keep=stack_keeps(config),
            )
        if spawner is None:
            spawner = AsyncioSpawner(records=self.records)
        clock = clock or MonotonicClock()
        window = config.window
        liveness = Liveness()

        def service(name: str, driver: ServiceDriver, *, required: bool, fail_fast: bool = True) -> Service:
            return Service(
                name=name,
                driver=driver,
                spawner=spawner,
                clock=clock,
                policy=config.policy,
                required=required,
                fail_fast=fail_fast,
                on_change=self._published,
                on_line=self._line,
                redact=hub.redactor,
                liveness=liveness,
                window=window,
            )

        self.opencode = service("opencode", self.driver, required=True)
        self.router_driver: RouterDriver | None = None
        self.router: Service | None = None
        self._router_task: asyncio.Task[None] | None = None
        if router_binary is not None:
            self.router_driver = RouterDriver(
                binary=router_binary,
                workspace=config.workspace,
                data_dir=config.data_dir,
                opencode_url=lambda: self.driver.url or "",
                opencode_auth=(credentials.opencode_username, credentials.opencode_password),
                base_env=os.environ,
                state_file=router_state_file(config.data_dir),
                preferred_port=config.router_port,
                # In a sandbox only the container gets the store: the router runs on the host.
                child_env=self.child_env if sandbox is None else None,
            )
            # Optional: a failing first start is retried like a crash, and giving up leaves the
            # stack serving. Required: the first failure is fatal, as for opencode.
            self.router = service(
                "router", self.router_driver, required=config.router_required, fail_fast=config.router_required
            )

    def container_path(self, host_path: str) -> str:
        """Where a host folder is for opencode: itself, or (sandbox) its place under /workspace."""
        return self.driver.container_path(host_path)

    @property
    def services(self) -> list[Service]:
        return [self.opencode] + ([self.router] if self.router is not None else [])

    def _published(self, status: ServiceStatus) -> None:
        if status.name == "opencode":
            self.driver.mark_running(status.state is ServiceState.RUNNING)
        elif status.name == "router" and self.router_driver is not None:
            self.router_driver.mark_running(status.state is ServiceState.RUNNING)
        if self.bus.subscriber_count:  # none before HTTP is up: opencode's first spawn builds no wire model
            self.bus.publish("service.state", status.to_json())

    def _line(self, service: str, line: str, stream: str) -> None:
        self.hub.child_line(service, line, stream=stream)

    async def start(self) -> None:
        """Reap what a dead predecessor left, then start opencode and wait until it is healthy."""
        self.records.reap_leftovers()
        await self.driver.reap_leftovers()
        await self.opencode.start()
        if self.router is not None:
            if self.config.router_required:
                await self.router.start()
            else:
                self._router_task = asyncio.create_task(self._start_optional(self.router), name="router-start")

    @staticmethod
    async def _start_optional(service: Service) -> None:
        try:
            await service.start()
        except SupervisorError as exc:
            log.warning("router.gave_up", message=exc.message, consequence="the stack keeps serving without it")

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
        if self._router_task is not None and not self._router_task.done():
            self._router_task.cancel()
        for service in reversed(self.services):
            await service.stop(force=force)
        await self.driver.aclose()
        if self.router_driver is not None:
            await self.router_driver.aclose()

    def statuses(self) -> list[ServiceStatus]:
        return [s.status() for s in self.services]
