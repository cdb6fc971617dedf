"""What the dashboard shows, built from the HTTP API's answers. The dashboard owns no state of its own."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

__all__ = ["LEVELS", "DashboardState", "LogFilter", "Service"]

LEVELS = ("ALL", "INFO", "WARN", "ERROR")


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    state: str
    pid: int | None
    port: int | None
    version: str | None
    started_at: float | None
    restarts: int
    last_exit: str | None
    url: str | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Service:
        last = data.get("lastExit") or None
        return cls(
            name=str(data.get("name", "?")),
            state=str(data.get("state", "?")),
            pid=data.get("pid"),
            port=data.get("port"),
            version=data.get("version"),
            started_at=data.get("startedAt"),
            restarts=int(data.get("restarts") or 0),
            last_exit=(last.get("reason") if isinstance(last, dict) else None),
            url=data.get("url"),
        )

    def uptime(self, now: float | None = None) -> float | None:
        if self.started_at is None or self.state != "running":
            return None
        return max(0.0, (now or time.time()) - self.started_at)


@dataclass(slots=True)
class LogFilter:
    service: str | None = None  # None = every service
    level: str = "ALL"
    search: str = ""
    follow: bool = True


@dataclass(slots=True)
class DashboardState:
    openwork_url: str = ""
    server_pid: int | None = None
    server_version: str = ""
    server_started_at: float | None = None
    workspace: str = ""
    reachable: bool = False
    healthy: bool = False
    error: str | None = None
    services: list[Service] = field(default_factory=list)
    workspaces: list[dict[str, Any]] = field(default_factory=list)
    active_id: str | None = None
    approvals: list[dict[str, Any]] = field(default_factory=list)
    approval_mode: str = ""
    logs: list[dict[str, Any]] = field(default_factory=list)  # {seq, service, level, text}
    token: str = ""
    token_revealed: bool = False
    selected_workspace: int = 0
    selected_approval: int = 0
    message: str = ""

    def apply_status(self, data: dict[str, Any]) -> None:
        server = data.get("server") or {}
        self.reachable = True
        self.error = None
        self.healthy = bool(data.get("healthy"))
        self.server_pid = server.get("pid")
        self.server_version = str(server.get("version", ""))
        self.server_started_at = server.get("startedAt")
        self.workspace = str(server.get("workspace", ""))
        self.openwork_url = str(server.get("url") or self.openwork_url)
        self.services = [Service.from_api(s) for s in data.get("services", [])]

    def server_port(self) -> int | None:
        """The port the server listens on, read from its URL."""
        try:
            return urlsplit(self.openwork_url).port
        except ValueError:
            return None

    def opencode_url(self) -> str | None:
        return next((s.url for s in self.services if s.name == "opencode"), None)
