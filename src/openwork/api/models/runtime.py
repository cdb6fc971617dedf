"""Answers of ``/system/runtime/*`` (and the original's ``/runtime/*``)."""

from __future__ import annotations

from typing import Literal

from openwork.api.models.v2 import RouterRuntimeHealth, RuntimeHealth
from openwork.runtime.control import UpgradeInfo
from openwork.supervisor.statusinfo import ServiceStatusInfo
from openwork.wire import WireModel

__all__ = [
    "RestartPolicyInfo",
    "RuntimeService",
    "RuntimeSummary",
    "ServerVersion",
    "UpgradeResult",
    "VersionSet",
    "Versions",
]


class VersionSet(WireModel):
    server_version: str
    opencode_version: str | None
    router_version: str | None


class Versions(WireModel):
    """The V2 contract's shape: what runs, what this release pins, the platform (``target``), and no
    runtime manifest (versions are pinned in the release). ``upgradeTarget`` (ours): what a running
    upgrade moves to, null when none runs."""

    active: VersionSet
    pinned: VersionSet
    target: str
    manifest: None = None
    upgrade_target: VersionSet | None


class RuntimeService(ServiceStatusInfo):
    """A service's status and the binary it runs. ``expectedVersion`` is the manifest's (or the pin's),
    ``reportedVersion`` what the binary says it is: they differ for a build the manifest mislabels."""

    source: str
    binary_path: str
    sha256: str | None
    binary_version: str | None
    expected_version: str | None
    reported_version: str | None


class RestartPolicyInfo(WireModel):
    """The supervisor's restart policy, in seconds; then in the V2 contract's terms (milliseconds): the
    first backoff, the failures allowed, and the window they are counted in."""

    initial_delay: float
    max_delay: float
    reset_after: float
    max_failures: int
    start_timeout: float
    stop_timeout: float
    backoff_ms: int
    max_attempts: int
    window_ms: int


class ServerVersion(WireModel):
    version: str


class RuntimeSummary(WireModel):
    """Ours (server, services, restart policy, upgrade), then the V2 contract's fields: each component's
    health, the platform, and no runtime manifest."""

    server: ServerVersion
    services: list[RuntimeService]
    restart_policy: RestartPolicyInfo
    upgrade: UpgradeInfo
    bootstrap_policy: Literal["disabled", "eager", "manual"] = "eager"  # opencode starts with the server
    manifest: None = None
    opencode: RuntimeHealth
    router: RouterRuntimeHealth
    source: Literal["development", "release"] = "release"
    target: str


class UpgradeResult(WireModel):
    upgrade: UpgradeInfo
