"""The HTTP half of the process: FastAPI app under uvicorn, serving our pre-bound socket.

Imported lazily (in a worker thread) after opencode has been spawned: FastAPI, pydantic and uvicorn
take most of a second to import, and that time is better spent while opencode boots.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import uvicorn

from openwork.api import AppContext, create_app

__all__ = ["HTTP_SHUTDOWN_TIMEOUT", "EmbeddedServer", "build_server"]

HTTP_SHUTDOWN_TIMEOUT = 5  # seconds; open streams are closed first, this bounds what remains


class EmbeddedServer(uvicorn.Server):
    """uvicorn inside our loop: we own the signals (ordered stop, second Ctrl+C forces)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def build_server(ctx: AppContext) -> EmbeddedServer:
    return EmbeddedServer(
        uvicorn.Config(
            create_app(ctx),
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=HTTP_SHUTDOWN_TIMEOUT,
        )
    )
