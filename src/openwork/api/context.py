"""What route handlers reach: the running server's services."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from openwork import __version__
from openwork.api.streams import OpenStreams
from openwork.approvals.service import ApprovalService
from openwork.auth.credentials import Credentials
from openwork.auth.tokens import TokenService
from openwork.config import ServerConfig
from openwork.files.service import FilesService
from openwork.proxy.ownership import SessionOwnership
from openwork.runtime.control import RuntimeControl
from openwork.runtime.events import EventBus
from openwork.runtime.gateway import OpencodeGateway
from openwork.runtime.health import StackHealth
from openwork.runtime.stack import Stack
from openwork.store.db import Database
from openwork.workspaces.registry import WorkspaceRegistry
from openwork.workspaces.service import WorkspaceService

__all__ = ["AppContext"]


@dataclass(kw_only=True, slots=True)
class AppContext:
    config: ServerConfig
    credentials: Credentials
    tokens: TokenService
    bus: EventBus
    stack: Stack
    registry: WorkspaceRegistry
    gateway: OpencodeGateway
    files: FilesService
    approvals: ApprovalService
    runtime: RuntimeControl
    db: Database
    sessions: SessionOwnership = field(default_factory=SessionOwnership)  # the proxy's ownership memory
    streams: OpenStreams = field(default_factory=OpenStreams)  # live event streams; the HTTP stop ends them
    request_shutdown: Callable[[], None] = lambda: None
    url: str = ""
    pid: int = field(default_factory=os.getpid)
    version: str = __version__
    started_at: float = field(default_factory=time.time)
    # Built from the services above, so whoever builds the context need not know about them.
    workspaces: WorkspaceService = field(init=False)
    health: StackHealth = field(init=False)

    def __post_init__(self) -> None:
        self.workspaces = WorkspaceService(registry=self.registry, bus=self.bus, gateway=self.gateway)
        self.health = StackHealth(self.stack)
