"""The states a supervised service goes through, and the snapshot the API and the TUI read."""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["ExitInfo", "ServiceState", "ServiceStatus"]


class ServiceState(StrEnum):
    PENDING = "pending"
    STARTING = "starting"
    RUNNING = "running"
    CRASHED = "crashed"
    RESTART_SCHEDULED = "restart_scheduled"
    STOPPING = "stopping"
    STOPPED = "stopped"
    ERRORED = "errored"


@dataclass(frozen=True, kw_only=True, slots=True)
class ExitInfo:
    """How one run of a service ended."""

    code: int | None
    reason: str
    at: float
    last_lines: tuple[str, ...] = ()

    @property
    def signal_name(self) -> str | None:
        if self.code is not None and self.code < 0:
            try:
                return signal.Signals(-self.code).name
            except ValueError:
                return f"signal {-self.code}"
        return None

    def to_json(self) -> dict[str, object]:
        return {
            "code": self.code,
            "signal": self.signal_name,
            "reason": self.reason,
            "at": self.at,
            "lastLines": list(self.last_lines),
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class ServiceStatus:
    """A point-in-time view of one service."""

    name: str
    state: ServiceState
    required: bool
    pid: int | None = None
    restarts: int = 0
    consecutive_failures: int = 0
    started_at: float | None = None
    next_restart_in: float | None = None
    last_exit: ExitInfo | None = None
    details: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "state": self.state.value,
            "required": self.required,
            "pid": self.pid,
            "restarts": self.restarts,
            "consecutiveFailures": self.consecutive_failures,
            "startedAt": self.started_at,
            "nextRestartIn": self.next_restart_in,
            "lastExit": self.last_exit.to_json() if self.last_exit else None,
            **self.details,
        }
