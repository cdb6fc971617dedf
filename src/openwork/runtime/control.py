"""Runtime control: what runs (versions, binaries, states) and a rolling upgrade with rollback.

An upgrade resolves and verifies every new binary first; then restarts one service at a time, each
gated on its health; any failure puts the previous binaries back and waits for them to be healthy again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from openwork import __version__
from openwork.errors import ConflictError, OpenworkError, ValidationError
from openwork.logging import get_logger
from openwork.runtime.events import EventBus
from openwork.runtime.stack import Stack
from openwork.sidecars.components import OPENCODE_VERSION
from openwork.sidecars.resolver import ResolvedBinary, Resolver, SidecarSettings
from openwork.sidecars.targets import current_target
from openwork.supervisor.service import Service
from openwork.wire import WireModel

__all__ = ["UPGRADE_HEALTH_TIMEOUT", "RuntimeControl", "UpgradeInfo", "UpgradeState", "UpgradeStep"]

log = get_logger("openwork.runtime")

UPGRADE_HEALTH_TIMEOUT = 30.0  # a restarted service must be running on the new binary by then
_VERSION_RE_OK = frozenset("0123456789.-+abcdefghijklmnopqrstuvwxyz")


@dataclass
class UpgradeState:
    state: Literal["idle", "running", "completed", "failed"] = "idle"
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    target: dict[str, str] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)

    def model(self) -> UpgradeInfo:
        """The upgrade as it goes on the wire (a copy: the running upgrade keeps changing its own)."""
        return UpgradeInfo(
            state=self.state,
            started_at=self.started_at,
            finished_at=self.finished_at,
            error=self.error,
            target=dict(self.target),
            steps=list(self.steps),
        )


class UpgradeInfo(WireModel):
    """The rolling upgrade: its state, when it started and finished, why it failed, what it targets
    (component -> version) and the steps so far."""

    state: Literal["idle", "running", "completed", "failed"]
    started_at: float | None
    finished_at: float | None
    error: str | None
    target: dict[str, str]
    steps: list[str]


class UpgradeStep(UpgradeInfo):
    """Payload of ``runtime.upgrade`` while it runs: the state, and the step just taken."""

    step: str


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
            status = service.status().model().wire()
            driver = self._drivers()[service.name]
            binary = driver.binary
            reported = driver.version or binary.reported_version
            services.append(
                {
                    **status,
                    "source": binary.source,
                    "binaryPath": str(binary.path),
                    "sha256": binary.sha256,
                    "binaryVersion": reported or binary.version,
                    # The manifest's (or the pin's) version, and what the binary says it is: they differ
                    # for a build the manifest mislabels, and both are worth seeing.
                    "expectedVersion": binary.version,
                    "reportedVersion": reported,
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
                # The same policy in the V2 contract's terms.
                "backoffMs": round(policy.initial_delay * 1000),
                "maxAttempts": policy.max_failures,
                "windowMs": round(policy.reset_after * 1000),
            },
            "upgrade": self.upgrade_state.model().wire(),
        }

    def versions(self) -> dict[str, Any]:
        """The V2 contract's shape: what runs, what this release pins, the platform; and (ours) what a
        running upgrade moves to."""
        router = self.stack.router_driver
        upgrading = self.upgrade_state.target if self.upgrade_state.state == "running" else None
        return {
            "active": {
                "serverVersion": __version__,
                "opencodeVersion": self.stack.driver.version,
                "routerVersion": router.version if router else None,
            },
            "pinned": {
                "serverVersion": __version__,
                "opencodeVersion": OPENCODE_VERSION,
                "routerVersion": router.binary.version if router else None,
            },
            "target": current_target(),
            "manifest": None,
            "upgradeTarget": None
            if upgrading is None
            else {
                "serverVersion": __version__,
                "opencodeVersion": upgrading.get("opencode"),
                "routerVersion": upgrading.get("router"),
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
        self.bus.publish("runtime.upgrade", UpgradeStep(**self.upgrade_state.model().model_dump(), step=text).wire())

    async def _upgrade(self, wanted: dict[str, str]) -> None:
        state = self.upgrade_state
        previous: dict[str, ResolvedBinary] = {}
        reported: dict[str, str | None] = {}  # what the running builds said they were, for the rollback
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
                reported[name] = driver.version
                driver.binary = binary
                self._step(f"restarting {name} on {version_of(binary)}")
                # A new build gets one attempt (a lost port race aside): a broken one is rolled back
                # at once instead of after a crash loop.
                await _restart_until_running(service, UPGRADE_HEALTH_TIMEOUT, max_failures=0)
                self._step(f"{name} healthy on {version_of(binary, driver.version)}")
            state.state = "completed"
        except (OpenworkError, TimeoutError) as exc:
            reason = exc.message if isinstance(exc, OpenworkError) else str(exc) or "timed out"
            state.error = reason
            await self._rollback(previous, reported)
            state.state = "failed"
        finally:
            state.finished_at = time.time()
            self.bus.publish("runtime.upgrade", state.model().wire())

    async def _rollback(self, previous: dict[str, ResolvedBinary], reported: dict[str, str | None]) -> None:
        for name, binary in previous.items():
            driver = self._drivers()[name]
            if driver.binary is binary:
                continue
            driver.binary = binary
            self._step(f"rolling {name} back to {version_of(binary, reported.get(name))}")
            try:
                # The previous build ran before: its failures now are the supervisor's to recover from
                # (a port race, a slow start under load), within its policy and this deadline.
                await _restart_until_running(self._service(name), UPGRADE_HEALTH_TIMEOUT, max_failures=None)
                self._step(f"{name} healthy again on {version_of(binary, driver.version)}")
            except (OpenworkError, TimeoutError) as exc:
                message = exc.message if isinstance(exc, OpenworkError) else "timed out"
                self.upgrade_state.error = f"{self.upgrade_state.error}; rollback of {name} failed too: {message}"

    def _service(self, name: str) -> Service:
        return next(s for s in self.stack.services if s.name == name)


def version_of(binary: ResolvedBinary, reported: str | None = None) -> str:
    """The version a binary reports (its health answer, else ``--version``), and the expected one
    beside it when they differ: "1.18.33 (expected 9.9.9)"."""
    said = reported or binary.reported_version
    if said and binary.version and said != binary.version:
        return f"{said} (expected {binary.version})"
    return said or binary.version or str(binary.path)


async def _restart_until_running(service: Service, timeout: float, *, max_failures: int | None) -> None:
    """Restart ``service`` and wait until a *new* process is healthy (see ``Service.wait_running``)."""
    old_pid, failures = service.status().pid, service.hard_failures  # read before: restart() awaits
    outcome = await service.restart()
    log.info("runtime.restart", service=service.name, outcome=outcome.value, old_pid=old_pid)
    await service.wait_running(after_pid=old_pid, timeout=timeout, max_failures=max_failures, failures_before=failures)
