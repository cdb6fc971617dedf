"""Workspace operations the API offers: the registry (SQLite, kept off the event loop), the events they
publish, and the opencode calls that warm or drop an instance for a folder."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from openwork.wire import WireModel
from openwork.workspaces.registry import (
    Workspace,
    WorkspaceInfo,
    WorkspaceRegistry,
    daemon_workspace_id,
    validate_folder,
)

if TYPE_CHECKING:
    from openwork.runtime.events import EventBus
    from openwork.runtime.gateway import OpencodeGateway

__all__ = ["WorkspaceChanged", "WorkspaceRef", "WorkspaceService"]


class WorkspaceChanged(WireModel):
    """Payload of ``workspace.added`` and ``workspace.updated``."""

    workspace: WorkspaceInfo


class WorkspaceRef(WireModel):
    """Payload of ``workspace.removed``, ``workspace.activated`` and ``workspace.disposed``."""

    id: str


def _folder_and_daemon_id(raw: str) -> tuple[Path, str]:
    """The folder (validated, real path) and its original daemon id, which hashes the path as given
    (made absolute) where ours hashes the real path: the same ids as the original for the same input."""
    folder = validate_folder(raw)
    return folder, daemon_workspace_id(os.path.abspath(os.path.expanduser(raw)))


class WorkspaceService:
    """Register, rename, forget, activate and dispose workspaces; every change is published on the bus."""

    def __init__(self, *, registry: WorkspaceRegistry, bus: EventBus, gateway: OpencodeGateway) -> None:
        self.registry = registry
        self._bus = bus
        self._gateway = gateway
        # Changes run one at a time, as they did on the loop: the registry's check-then-write steps
        # (activate: does it exist, then set it active) must not interleave with a remove in another thread.
        self._changes = asyncio.Lock()

    async def add(self, folder_path: str, name: str | None) -> tuple[Workspace, bool]:
        """Register a folder; a folder registered before returns its record and ``False``."""
        folder, daemon_id = await asyncio.to_thread(_folder_and_daemon_id, folder_path)
        async with self._changes:
            record, created = await asyncio.to_thread(self.registry.add, folder, name, daemon_id=daemon_id)
        return self._added(record, created)

    async def add_remote(self, base_url: str, directory: str | None, name: str | None) -> tuple[Workspace, bool]:
        """Register a remote workspace (listed; activating or proxying it is a 409 for now)."""
        directory = directory.strip() if directory and directory.strip() else None
        async with self._changes:
            record, created = await asyncio.to_thread(self.registry.add_remote, base_url, directory, name)
        return self._added(record, created)

    def _added(self, record: Workspace, created: bool) -> tuple[Workspace, bool]:
        if created:
            self._bus.publish("workspace.added", WorkspaceChanged(workspace=record.model()).wire())
        return record, created

    async def get(self, ws_id: str) -> Workspace:
        return await asyncio.to_thread(self.registry.get, ws_id)

    async def listing(self, visible: Callable[[str], bool]) -> tuple[list[Workspace], str | None]:
        """The records ``visible`` lets through, and the active id when it is one of them."""

        def read() -> tuple[list[Workspace], str | None]:
            return self.registry.list(), self.registry.active_id()

        records, active = await asyncio.to_thread(read)
        return [w for w in records if visible(w.id)], active if active and visible(active) else None

    async def counts(self) -> tuple[str | None, int]:
        """The active id and how many workspaces are registered."""

        def read() -> tuple[str | None, int]:
            return self.registry.active_id(), len(self.registry.list())

        return await asyncio.to_thread(read)

    async def rename(self, ws_id: str, name: str) -> Workspace:
        async with self._changes:
            record = await asyncio.to_thread(self.registry.rename, ws_id, name)
        self._bus.publish("workspace.updated", WorkspaceChanged(workspace=record.model()).wire())
        return record

    async def remove(self, ws_id: str) -> Workspace:
        """Forget the workspace; its folder and files are left exactly as they are."""
        async with self._changes:
            record = await asyncio.to_thread(self.registry.remove, ws_id)
        self._bus.publish("workspace.removed", WorkspaceRef(id=record.id).wire())
        return record

    async def activate(self, ws_id: str) -> Workspace:
        """Make it the active workspace and warm opencode's instance for its folder."""
        async with self._changes:
            record = await asyncio.to_thread(self.registry.activate, ws_id)
        await self._gateway.call("GET", "/path", record.path)
        self._bus.publish("workspace.activated", WorkspaceRef(id=record.id).wire())
        return record

    async def activate_if_none(self, record: Workspace) -> Workspace | None:
        """The original daemon's rule on add: the first local workspace becomes the active one (not warmed).
        Returns the active workspace."""
        async with self._changes:
            active = await asyncio.to_thread(self.registry.active_id)
            if active is None and not record.remote:
                await asyncio.to_thread(self.registry.activate, record.id)
                self._bus.publish("workspace.activated", WorkspaceRef(id=record.id).wire())
                active = record.id
        return await self.get(active) if active else None

    async def dispose(self, record: Workspace) -> bool:
        """Drop opencode's instance for the folder; True when opencode said it did."""
        result = await self._gateway.call("POST", "/instance/dispose", record.require_local().path)
        self._bus.publish("workspace.disposed", WorkspaceRef(id=record.id).wire())
        return result is True
