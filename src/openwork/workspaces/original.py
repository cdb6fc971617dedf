"""The original daemon's view of the workspaces: its entry shape (``ws-`` ids, integer-millisecond times,
``workspaceType``), as its routes answered and as its state file ``openwork-orchestrator-state.json`` holds
them (shared/DESIGN.md 2b). Our routes for its native clients and our state file writer both use it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from openwork.wire import WireModel
from openwork.workspaces.registry import Kind, Workspace

if TYPE_CHECKING:
    from openwork.runtime.stack import Stack

__all__ = [
    "CLI_VERSION_PREFIX",
    "DaemonWorkspace",
    "ProcessInfo",
    "cli_version",
    "ms",
    "opencode_process",
    "server_process",
]

# ``cliVersion`` in what we write: how the take-over of an original state file recognises (and skips) ours.
CLI_VERSION_PREFIX = "openwork-py/"


def cli_version(version: str) -> str:
    return CLI_VERSION_PREFIX + version


def ms(seconds: float | None) -> int | None:
    """Unix seconds (ours) as the original's integer milliseconds."""
    return None if seconds is None else round(seconds * 1000)


class DaemonWorkspace(WireModel):
    """One entry of the original daemon's list; absent fields are left out, as the original did."""

    id: str
    name: str
    path: str
    workspace_type: Kind
    base_url: str | None = None
    directory: str | None = None
    created_at: int
    last_used_at: int | None = None

    @classmethod
    def of(cls, record: Workspace) -> DaemonWorkspace:
        return cls(
            id=record.daemon_id,
            name=record.name,
            path=(record.directory or "") if record.remote else record.path,
            workspace_type=record.kind,
            base_url=record.base_url,
            directory=record.directory,
            created_at=ms(record.created_at) or 0,
            last_used_at=ms(record.last_used_at),
        )

    def entry(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json", exclude_none=True)


class ProcessInfo(WireModel):
    """``daemon`` and ``opencode`` in the original's health answer and state file."""

    pid: int
    port: int
    base_url: str
    started_at: int


def server_process(*, pid: int, url: str, started_at: float) -> ProcessInfo:
    """The server as the original's ``daemon`` record."""
    return ProcessInfo(pid=pid, port=urlsplit(url).port or 0, base_url=url, started_at=ms(started_at) or 0)


def opencode_process(stack: Stack) -> ProcessInfo | None:
    """opencode as the original's ``opencode`` record, while its process runs (its URL needs opencode's
    credentials, which never leave the server)."""
    status = stack.opencode.status()
    url = stack.driver.url
    if status.pid is None or url is None:
        return None
    return ProcessInfo(
        pid=status.pid, port=urlsplit(url).port or 0, base_url=url, started_at=ms(status.started_at) or 0
    )
