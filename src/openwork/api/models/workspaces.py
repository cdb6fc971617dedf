"""Answers of ``/workspaces`` and of the original daemon's routes."""

from __future__ import annotations

from typing import Literal

from openwork.wire import WireModel
from openwork.workspaces.registry import WorkspaceInfo

__all__ = [
    "DaemonInfo",
    "LegacyHealth",
    "OpencodeInfo",
    "ShutdownResult",
    "WorkspaceActivated",
    "WorkspaceAdded",
    "WorkspaceDisposed",
    "WorkspaceList",
    "WorkspacePath",
    "WorkspaceRemoved",
    "WorkspaceResult",
]


class WorkspaceList(WireModel):
    """What the caller may see. ``workspaces`` repeats ``items`` for the original daemon's clients."""

    items: list[WorkspaceInfo]
    workspaces: list[WorkspaceInfo]
    active_id: str | None


class WorkspaceResult(WireModel):
    workspace: WorkspaceInfo


class WorkspaceAdded(WorkspaceResult):
    """``created: false`` when the folder was registered before (its existing record)."""

    created: bool


class WorkspaceRemoved(WorkspaceResult):
    removed: Literal[True] = True


class WorkspaceActivated(WorkspaceResult):
    active_id: str


class WorkspaceDisposed(WorkspaceResult):
    """``disposed``: opencode said it dropped the instance."""

    disposed: bool


class DaemonInfo(WireModel):
    pid: int
    url: str


class OpencodeInfo(WireModel):
    state: str
    url: str | None


class LegacyHealth(WireModel):
    """The original daemon's health: no secrets."""

    ok: Literal[True] = True
    daemon: DaemonInfo
    opencode: OpencodeInfo
    cli_version: str
    active_id: str | None
    workspace_count: int


class WorkspacePath(WireModel):
    id: str
    path: str


class ShutdownResult(WireModel):
    stopping: Literal[True] = True
