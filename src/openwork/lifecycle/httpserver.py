"""The HTTP half of the process: FastAPI app under uvicorn, serving our pre-bound socket.

Imported lazily (in a worker thread) after opencode has been spawned: FastAPI, pydantic and uvicorn
take most of a second to import, and that time is better spent while opencode boots.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import uvicorn

from openwork.api import AppContext, create_app
from openwork.api.streams import OpenStreams
from openwork.api.wsproxy import WS_MAX_MESSAGE
from openwork.constants import HTTP_SHUTDOWN_TIMEOUT
from openwork.lifecycle.httplimits import KEEP_ALIVE_TIMEOUT, MAX_CONNECTIONS, FirstRequestDeadline, raise_fd_limit

__all__ = ["EmbeddedServer", "build_server"]


class EmbeddedServer(uvicorn.Server):
    """uvicorn inside our loop, through its public embedding surface only (``serve(sockets=…)``,
    ``should_exit``, ``capture_signals``): we own the signals (ordered stop, a second Ctrl+C forces)."""

    def __init__(self, config: uvicorn.Config, streams: OpenStreams | None = None) -> None:
        super().__init__(config)
        self.streams = streams if streams is not None else OpenStreams()

    def request_exit(self) -> None:
        """Stop serving. Open event streams end now, so the drain waits for none of them and none is
        cancelled mid-write by the graceful timeout; uvicorn notices ``should_exit`` on its next tick."""
        self.streams.close()
        self.should_exit = True

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def build_server(ctx: AppContext) -> EmbeddedServer:
    app = create_app(ctx)
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="off",
        # The peer is the socket's: an X-Forwarded-For from a loopback client must not rewrite it (the
        # native-client rule in openwork.auth.native looks the peer's exact socket up).
        proxy_headers=False,
        ws="websockets-sansio",  # the proxy's upgrades (opencode's terminal); the sans-I/O websockets API
        ws_max_size=WS_MAX_MESSAGE,
        timeout_graceful_shutdown=HTTP_SHUTDOWN_TIMEOUT,
        http=FirstRequestDeadline,
        limit_concurrency=MAX_CONNECTIONS,
        timeout_keep_alive=KEEP_ALIVE_TIMEOUT,
    )
    raise_fd_limit()
    config.load()  # here, in the build thread: `serve` would import the protocol classes on the main one
    return EmbeddedServer(config, streams=ctx.streams)
