"""``<data dir>/openwork-orchestrator-state.json``: the file the original's clients read to find the daemon
(its CLI reads ``daemon.baseUrl`` and a live ``daemon.pid``; shared/DESIGN.md 2b).

Written in the original's shape (integer milliseconds, ``ws-`` ids) when the server listens, rewritten when
a workspace or opencode's process changes, and on exit written without ``daemon`` (and without ``opencode``
once its process is gone), as the original did. Atomic, so a reader never sees half a file. ``cliVersion``
says ``openwork-py/…``: the take-over of an original state file skips ours.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openwork.errors import OpenworkError
from openwork.logging import get_logger
from openwork.store.atomic import write_atomic
from openwork.workspaces.legacy import LEGACY_STATE_FILE
from openwork.workspaces.original import DaemonWorkspace, ProcessInfo, cli_version, opencode_process

if TYPE_CHECKING:
    from openwork.config import ServerConfig
    from openwork.runtime.events import Subscription
    from openwork.runtime.stack import Stack
    from openwork.sidecars.resolver import ResolvedBinary
    from openwork.workspaces.registry import WorkspaceRegistry

__all__ = ["STATE_VERSION", "StateFile", "state_file_path"]

log = get_logger("openwork.server")

STATE_VERSION = 1
# Events after which the file is rewritten: the workspace list, the active one, opencode's process.
_REWRITE_ON = ("workspace.", "service.state")
_IDLE_WAKE = 3600.0  # seconds a quiet bus waits before looking again (the loop ends when the bus closes)


def state_file_path(data_dir: Path) -> Path:
    return data_dir / LEGACY_STATE_FILE


@dataclass(kw_only=True, slots=True)
class StateFile:
    config: ServerConfig
    registry: WorkspaceRegistry
    stack: Stack
    binary: ResolvedBinary
    server: Callable[[], ProcessInfo]
    version: str

    @property
    def path(self) -> Path:
        return state_file_path(self.config.data_dir)

    def document(self, *, running: bool) -> dict[str, Any]:
        """The file's content; ``running``: the server still listens (``daemon`` present)."""
        records = self.registry.list()
        active = next((r for r in records if r.active), None)
        opencode = opencode_process(self.stack)
        doc: dict[str, Any] = {"version": STATE_VERSION}
        if running:
            doc["daemon"] = self.server().wire()
        if opencode is not None:
            doc["opencode"] = opencode.wire()
        doc["cliVersion"] = cli_version(self.version)
        doc["sidecar"] = {
            "dir": str(self.config.sidecar_dir),
            "source": self.config.sidecar_settings().sidecar_source,
            "opencodeSource": self.config.sidecar_settings().opencode_source,
            "allowExternal": self.config.sidecar_settings().allow_external,
        }
        doc["binaries"] = {
            "opencode": {
                "path": str(self.binary.path),
                "source": self.binary.source,
                "expectedVersion": self.binary.version,
                "actualVersion": self.stack.driver.version or self.binary.version,
            }
        }
        doc["activeId"] = active.daemon_id if active else ""
        doc["workspaces"] = [DaemonWorkspace.of(r).entry() for r in records]
        return doc

    def write(self, *, running: bool = True) -> None:
        """Never fatal: the file serves the original's clients, the server runs without it."""
        try:
            write_atomic(self.path, json.dumps(self.document(running=running), indent=2) + "\n")
        except (OSError, OpenworkError) as exc:  # OpenworkError: a full disk, a database read failing
            message = exc.message if isinstance(exc, OpenworkError) else str(exc)
            log.warning("state_file.write_failed", path=str(self.path), error=message)

    async def follow(self, sub: Subscription) -> None:
        """Rewrite on every change that shows in the file, until the bus closes. ``sub``: taken before the
        first write, so that no change between that write and this loop is missed."""
        try:
            while True:
                try:
                    event = await sub.get(timeout=_IDLE_WAKE)
                except TimeoutError:
                    continue
                if event is None:
                    return
                if event.type.startswith(_REWRITE_ON):
                    await asyncio.to_thread(self.write)
        finally:
            sub.close()
