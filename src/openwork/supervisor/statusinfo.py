"""A service's status as it goes on the wire (``ServiceStatus.model()``), apart from ``state`` so that
pydantic stays out of what `openwork serve` imports before it spawns opencode."""

from __future__ import annotations

from pydantic import ConfigDict

from openwork.supervisor.state import ServiceState, V2Status
from openwork.wire import WireModel

__all__ = ["LastExitInfo", "ServiceStatusInfo"]


class LastExitInfo(WireModel):
    """How the last run of a service ended: exit code or signal name, why, when, and its last lines."""

    code: int | None
    signal: str | None
    reason: str
    at: float
    last_lines: list[str]


class ServiceStatusInfo(WireModel):
    """One supervised service. The service's own details (``port``, ``url``, ``version``, ``binary`` for
    opencode and the router) follow as extra keys."""

    # Extra keys allowed: each driver adds its own details, and the wire keeps them at the top level.
    model_config = ConfigDict(extra="allow")

    name: str
    state: ServiceState  # internal, shown by the dashboard
    status: V2Status  # the V2 enum clients read
    required: bool
    pid: int | None
    restarts: int
    consecutive_failures: int
    window_failures: int
    started_at: float | None
    next_restart_in: float | None
    last_exit: LastExitInfo | None
