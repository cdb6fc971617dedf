"""Answers of ``/system/*``: health, status, the opencode and router health, logs, service restarts."""

from __future__ import annotations

from typing import Any, Literal

from openwork.api.models.v2 import (
    SERVICE_NAME,
    AuthSummary,
    Capabilities,
    DatabaseStatus,
    RegistrySummary,
    RuntimeHealth,
    RuntimeView,
)
from openwork.logging import LogEntry
from openwork.runtime.events import Event
from openwork.supervisor.state import RestartOutcome
from openwork.supervisor.statusinfo import ServiceStatusInfo
from openwork.wire import WireModel

__all__ = [
    "Capabilities",
    "EventMessage",
    "Health",
    "LogLine",
    "LogPage",
    "OpencodeHealth",
    "RestartResult",
    "RouterDisabled",
    "RouterHealth",
    "ServerInfo",
    "ServicesSnapshot",
    "SystemStatus",
]


class Health(WireModel):
    """The server is alive; ``degraded`` names the resources near their limit (fds, threads, ...). The
    database's place is not told here (no authentication): ``database.path`` is empty."""

    service: Literal["openwork-server-v2"] = SERVICE_NAME
    status: Literal["ok"] = "ok"
    version: str
    degraded: list[str]
    started_at: str
    uptime_ms: int
    database: DatabaseStatus


class ServerInfo(WireModel):
    version: str
    pid: int
    run_id: str
    url: str
    started_at: float
    uptime_seconds: float
    workspace: str | None  # the folder it was started in; null for a token limited to workspaces


class SystemStatus(WireModel):
    """Whether every required service runs, the server itself, and each supervised service; then the V2
    contract's fields (auth, capabilities, database, registry, runtime)."""

    healthy: bool
    server: ServerInfo
    services: list[ServiceStatusInfo]
    service: Literal["openwork-server-v2"] = SERVICE_NAME
    status: Literal["ok"] = "ok"
    version: str
    environment: str
    started_at: str
    uptime_ms: int
    auth: AuthSummary
    capabilities: Capabilities
    database: DatabaseStatus
    registry: RegistrySummary
    runtime: RuntimeView


class OpencodeHealth(ServiceStatusInfo, RuntimeHealth):
    """opencode's service status, whether it answers its health check, and the V2 contract's fields."""

    healthy: bool


class RouterDisabled(WireModel):
    """The router is not part of this stack."""

    enabled: Literal[False] = False
    healthy: Literal[False] = False
    state: Literal["disabled"] = "disabled"
    status: Literal["disabled"] = "disabled"


class RouterHealth(ServiceStatusInfo):
    """The router's service status and its own health answer (null when it did not answer)."""

    enabled: Literal[True] = True
    healthy: bool
    health: dict[str, Any] | None


class LogLine(WireModel):
    """One redacted log line of the unified stream."""

    seq: int
    at: float
    service: str
    level: str
    text: str

    @classmethod
    def of(cls, entry: LogEntry) -> LogLine:
        return cls(seq=entry.seq, at=entry.at, service=entry.service, level=entry.level, text=entry.text)


class EventMessage(WireModel):
    """One bus event as an SSE frame carries it: id, type, time and its publisher's payload."""

    id: int
    type: str
    at: float
    data: dict[str, Any]

    @classmethod
    def of(cls, event: Event) -> EventMessage:
        return cls(id=event.id, type=event.type, at=event.at, data=event.data)


class LogPage(WireModel):
    """Log lines with ``seq > after``, oldest first; ``last`` is the ``after`` for the next call."""

    items: list[LogLine]
    last: int


class RestartResult(WireModel):
    """What the restart request did (it is never ignored), and the service's state after it."""

    outcome: RestartOutcome
    service: ServiceStatusInfo


class ServicesSnapshot(WireModel):
    """The first frame of ``/system/events``: every service."""

    services: list[ServiceStatusInfo]
