"""Runtime control: what runs (versions, binaries, states) and a rolling upgrade with rollback.

An upgrade resolves and verifies every new binary first; then restarts one service at a time, each
gated on its health; any failure puts the previous binaries back and waits for them to be healthy again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog

from openwork import __version__
from openwork.errors import ConflictError, OpenworkError, SupervisorError, ValidationError
from openwork.events import EventBus
from openwork.runtime.stack import Stack
from openwork.sidecars.components import OPENCODE_VERSION
from openwork.sidecars.resolver import ResolvedBinary, Resolver, SidecarSettings
from openwork.supervisor.service import Service
from openwork.supervisor.state import ServiceState

__all__ = ["UPGRADE_HEALTH_TIMEOUT", "RuntimeControl", "UpgradeState"]

log = structlog.get_logger("openwork.runtime")

UPGRADE_HEALTH_TIMEOUT = 30.0  # a restarted service must be running on the new binary by then
_POLL = 0.1
_VERSION_RE_OK = frozenset("0123456789.-+abcdefghijklmnopqrstuvwxyz")


@dataclass
class UpgradeState:
    state: Literal["idle", "running", "completed", "failed"] = "idle"
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    target: dict[str, str] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "error": self.error,
            "target": self.target,
            "steps": self.steps,
        }


class RuntimeControl:
    def __init__(self, *, stack: Stack, settings: SidecarSettings, bus: EventBus) -> None:
        self.stack = stack
        self.bus = bus
        # Upgrades always fetch verified builds, whatever the server itself was started from.
        self._settings = dataclasses.replace(
            settings, opencode_bin=None, router_bin=None, opencode_source="downloaded", sidecar_source="downloaded"
        )
        self.upgrade_state = UpgradeState()
        self._task: asyncio.Task[None] | None = None

    # -- reading -----------------------------------------------------------------------------------
    def _drivers(self) -> dict[str, Any]:
        found: dict[str, Any] = {"opencode": self.stack.driver}
        if self.stack.router_driver is not None:
            found["router"] = self.stack.router_driver
        return found

    def summary(self) -> dict[str, Any]:
        policy = self.stack.config.policy
        services = []
        for service in self.stack.services:
            status = service.status().to_json()
            binary = self._drivers()[service.name].binary
            services.append(
                {
                    **status,
                    "source": binary.source,
                    "binaryPath": str(binary.path),
                    "sha256": binary.sha256,
                    "binaryVersion": binary.reported_version or binary.version,
                }
            )
        return {
            "server": {"version": __version__},
            "services": services,
            "restartPolicy": {
                "initialDelay": policy.initial_delay,
                "maxDelay": policy.max_delay,
                "resetAfter": policy.reset_after,
                "maxFailures": policy.max_failures,
                "startTimeout": policy.start_timeout,
                "stopTimeout": policy.stop_timeout,
            },
            "upgrade": self.upgrade_state.to_json(),
        }

    def versions(self) -> dict[str, Any]:
        router = self.stack.router_driver
        target = self.upgrade_state.target if self.upgrade_state.state == "running" else {}
        return {
            "server": {"active": __version__, "pinned": __version__, "target": __version__},
            "opencode": {
                "active": self.stack.driver.version,
                "pinned": OPENCODE_VERSION,
                "target": target.get("opencode", self.stack.driver.binary.version or OPENCODE_VERSION),
            },
            "router": {
                "active": router.version if router else None,
                "pinned": router.binary.version if router else None,
                "target": target.get("router", router.binary.version if router else None),
            },
        }

    # -- upgrading ---------------------------------------------------------------------------------
    def start_upgrade(self, *, opencode_version: str | None, router_version: str | None) -> UpgradeState:
        if self._task is not None and not self._task.done():
            raise ConflictError("an upgrade is already running")
        wanted = {k: v for k, v in (("opencode", opencode_version), ("router", router_version)) if v}
        if not wanted:
            raise ValidationError("name at least one of opencodeVersion and routerVersion")
        for name, version in wanted.items():
            if len(version) > 64 or not set(version.lower()) <= _VERSION_RE_OK:
                raise ValidationError(f"{name} version {version!r} is not a version")
        if "router" in wanted and self.stack.router is None:
            raise ValidationError("the router is not part of this stack")
        self.upgrade_state = UpgradeState(state="running", started_at=time.time(), target=wanted)
        self._task = asyncio.create_task(self._upgrade(wanted), name="runtime-upgrade")
        return self.upgrade_state

    async def wait(self) -> UpgradeState:
        if self._task is not None:
            await asyncio.shield(self._task)
        return self.upgrade_state

    def _step(self, text: str) -> None:
        self.upgrade_state.steps.append(text)
        log.info("runtime.upgrade", step=text)
        self.bus.publish("runtime.upgrade", {**self.upgrade_state.to_json(), "step": text})

    async def _upgrade(self, wanted: dict[str, str]) -> None:
        state = self.upgrade_state
        previous: dict[str, ResolvedBinary] = {}
        try:
            resolved = {}
            for name, version in wanted.items():
                self._step(f"resolving {name} {version}")
                component = "opencode" if name == "opencode" else "opencode-router"
                resolved[name] = await asyncio.to_thread(Resolver(self._settings).resolve, component, version=version)
                self._step(f"verified {name} {version} (sha256 {resolved[name].sha256})")
            for name, binary in resolved.items():
                service, driver = self._service(name), self._drivers()[name]
                previous[name] = driver.binary
                driver.binary = binary
                self._step(f"restarting {name} on {version_of(binary)}")
                await _restart_until_running(service, UPGRADE_HEALTH_TIMEOUT)
                self._step(f"{name} healthy on {version_of(binary)}")
            state.state = "completed"
        except (OpenworkError, TimeoutError) as exc:
            reason = exc.message if isinstance(exc, OpenworkError) else str(exc) or "timed out"
            state.error = reason
            await self._rollback(previous)
            state.state = "failed"
        finally:
            state.finished_at = time.time()
            self.bus.publish("runtime.upgrade", state.to_json())

    async def _rollback(self, previous: dict[str, ResolvedBinary]) -> None:
        for name, binary in previous.items():
            driver = self._drivers()[name]
            if driver.binary is binary:
                continue
            driver.binary = binary
            self._step(f"rolling {name} back to {version_of(binary)}")
            try:
                await _restart_until_running(self._service(name), UPGRADE_HEALTH_TIMEOUT)
                self._step(f"{name} healthy again on {version_of(binary)}")
            except (OpenworkError, TimeoutError) as exc:
                message = exc.message if isinstance(exc, OpenworkError) else "timed out"
                self.upgrade_state.error = f"{self.upgrade_state.error}; rollback of {name} failed too: {message}"

    def _service(self, name: str) -> Service:
        return next(s for s in self.stack.services if s.name == name)


def version_of(binary: ResolvedBinary) -> str:
    return binary.reported_version or binary.version or str(binary.path)


async def _restart_until_running(service: Service, timeout: float, clock: Callable[[], float] = time.monotonic) -> None:
    """Restart ``service`` and wait until a *new* process is healthy; a failed attempt raises."""
    before = service.status()
    old_pid = before.pid
    failures = before.consecutive_failures
    await service.restart()
    deadline = clock() + timeout
    while clock() < deadline:
        status = service.status()
        if status.state is ServiceState.RUNNING and status.pid is not None and status.pid != old_pid:
            return
        if status.state is ServiceState.ERRORED or status.consecutive_failures > failures:
            reason = status.last_exit.reason if status.last_exit else status.state.value
            tail = " | ".join(status.last_exit.last_lines[-3:]) if status.last_exit else ""
            raise SupervisorError(f"{service.name} did not come up: {reason}" + (f" ({tail})" if tail else ""))
        await asyncio.sleep(_POLL)
    raise SupervisorError(f"{service.name} was not healthy within {timeout:g}s")
