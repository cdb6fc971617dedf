"""Answers of ``/system/runtime/*`` (and the original's ``/runtime/*``)."""

from __future__ import annotations

from openwork.runtime.control import UpgradeInfo
from openwork.supervisor.statusinfo import ServiceStatusInfo
from openwork.wire import WireModel

__all__ = [
    "ComponentVersions",
    "RestartPolicyInfo",
    "RuntimeService",
    "RuntimeSummary",
    "ServerVersion",
    "UpgradeResult",
    "Versions",
]


class ComponentVersions(WireModel):
    """What runs, what this release pins, and what a running upgrade moves to."""

    active: str | None
    pinned: str | None
    target: str | None


class Versions(WireModel):
    server: ComponentVersions
    opencode: ComponentVersions
    router: ComponentVersions


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
    """The supervisor's restart policy, in seconds."""

    initial_delay: float
    max_delay: float
    reset_after: float
    max_failures: int
    start_timeout: float
    stop_timeout: float


class ServerVersion(WireModel):
    version: str


class RuntimeSummary(WireModel):
    server: ServerVersion
    services: list[RuntimeService]
    restart_policy: RestartPolicyInfo
    upgrade: UpgradeInfo


class UpgradeResult(WireModel):
    upgrade: UpgradeInfo
