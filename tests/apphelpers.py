"""An in-process app (no sockets) over a real store and a not-yet-started stack."""

from __future__ import annotations

import time
import weakref
from pathlib import Path
from typing import Any

import httpx

from openwork.api import AppContext, create_app
from openwork.approvals.service import ApprovalService
from openwork.auth.credentials import load_credentials
from openwork.auth.tokens import TokenService
from openwork.config import ServerConfig
from openwork.files.protected import ProtectedSet
from openwork.files.service import FilesService
from openwork.files.sessions import SessionStore
from openwork.logging import configure_logging
from openwork.runtime.control import RuntimeControl
from openwork.runtime.events import EventBus
from openwork.runtime.gateway import OpencodeGateway
from openwork.runtime.stack import Stack
from openwork.sidecars.resolver import ResolvedBinary
from openwork.store.db import Database
from openwork.workspaces.registry import WorkspaceRegistry


class StepClock:
    """Wall-clock time that a test moves forward instead of sleeping: the clock ``make_context`` gives
    the token service and the file sessions (their public ``clock`` parameter), found with ``clock_of``."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


# Keyed by the context's token service: the context itself (a slotted dataclass) cannot be weakly referenced.
_CLOCKS: weakref.WeakKeyDictionary[TokenService, StepClock] = weakref.WeakKeyDictionary()


def clock_of(ctx: AppContext) -> StepClock:
    """The clock a ``make_context`` context's tokens and file sessions read."""
    return _CLOCKS[ctx.tokens]


def make_context(data_dir: Path, workspace: Path, **config_overrides: Any) -> AppContext:
    config = ServerConfig(workspace=workspace, data_dir=data_dir, port=0, **config_overrides)
    clock = StepClock()
    hub = configure_logging(fmt="json", run_id=config.run_id)
    creds = load_credentials(data_dir)
    hub.redactor.add(*creds.values())
    bus = EventBus()
    stack = Stack(
        config=config,
        binary=ResolvedBinary(
            component="opencode",
            path=Path("/bin/false"),
            source="external",
            target="linux-x64",
            version=None,
            sha256=None,
            how="test stand-in",
        ),
        credentials=creds,
        hub=hub,
        bus=bus,
    )
    db = Database(config.dirs.db)
    registry = WorkspaceRegistry(db)
    approvals = ApprovalService(db=db, bus=bus, mode=config.approval_mode, timeout_ms=config.approval_timeout_ms)
    tokens = TokenService(db, clock=clock)
    _CLOCKS[tokens] = clock
    files = FilesService(
        registry=registry,
        approvals=approvals,
        protected=ProtectedSet.for_server(config),
        allow_config_write=config.files_allow_config_write,
        state_dir=config.dirs.state,
    )
    files.sessions = SessionStore(clock=clock)  # FilesService makes its own, on the real clock
    return AppContext(
        config=config,
        credentials=creds,
        tokens=tokens,
        bus=bus,
        stack=stack,
        registry=registry,
        files=files,
        approvals=approvals,
        runtime=RuntimeControl(stack=stack, settings=config.sidecar_settings(), bus=bus),
        db=db,
        gateway=OpencodeGateway(stack.driver, lambda: False),  # opencode never runs in these tests
        url="http://127.0.0.1:8787",
    )


def asgi_client(ctx: AppContext, *, token: str | None = None) -> httpx.AsyncClient:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(ctx)), base_url="http://127.0.0.1:8787", headers=headers
    )
