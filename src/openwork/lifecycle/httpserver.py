"""The HTTP half of the process: FastAPI app under uvicorn, serving our pre-bound socket.

Imported lazily (in a worker thread) after opencode has been spawned: FastAPI, pydantic and uvicorn
take most of a second to import, and that time is better spent while opencode boots.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn

from openwork.api import AppContext, create_app
from openwork.api.streams import OpenStreams
from openwork.lifecycle.httplimits import KEEP_ALIVE_TIMEOUT, MAX_CONNECTIONS, FirstRequestDeadline, raise_fd_limit

__all__ = ["HTTP_SHUTDOWN_TIMEOUT", "EmbeddedServer", "build_server"]

HTTP_SHUTDOWN_TIMEOUT = 5  # seconds; open event streams end first, this bounds what remains
_TICK = 0.1  # uvicorn's housekeeping period (the Date header)
_DRAIN_POLL = 0.01  # how often a stopping server checks for its last connections


class EmbeddedServer(uvicorn.Server):
    """uvicorn inside our loop: we own the signals (ordered stop, second Ctrl+C forces), and a stop is
    prompt: uvicorn notices ``should_exit`` on a 100 ms tick and drains in 100 ms steps, which added a
    quarter of a second to every ``daemon stop``. Open event streams end as the stop begins, so the
    drain waits for none of them and none is cancelled mid-write by the graceful timeout."""

    def __init__(self, config: uvicorn.Config, streams: OpenStreams | None = None) -> None:
        super().__init__(config)
        self._exit = asyncio.Event()
        self.streams = streams if streams is not None else OpenStreams()

    def request_exit(self) -> None:
        # Now, not at the next tick: the caller stops opencode next, and a stream should end cleanly
        # before its upstream breaks under it.
        self.streams.close()
        self.should_exit = True
        self._exit.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit.wait(), _TICK)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.streams.close()  # also when uvicorn decided to stop by itself
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()  # idle keep-alive connections close now, busy ones after their response
        try:
            await asyncio.wait_for(self._drain(), timeout=self.config.timeout_graceful_shutdown)
        except TimeoutError:
            for task in self.server_state.tasks:
                task.cancel(msg="graceful shutdown timed out")
        # lifespan is "off": there is no application shutdown to wait for

    async def _drain(self) -> None:
        while (self.server_state.connections or self.server_state.tasks) and not self.force_exit:
            await asyncio.sleep(_DRAIN_POLL)
        for server in self.servers:
            await server.wait_closed()


def build_server(ctx: AppContext) -> EmbeddedServer:
    app = create_app(ctx)
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="off",
        ws="none",  # no WebSocket routes: do not import a WebSocket library
        timeout_graceful_shutdown=HTTP_SHUTDOWN_TIMEOUT,
        http=FirstRequestDeadline,
        limit_concurrency=MAX_CONNECTIONS,
        timeout_keep_alive=KEEP_ALIVE_TIMEOUT,
    )
    raise_fd_limit()
    config.load()  # here, in the build thread: `serve` would import the protocol classes on the main one
    return EmbeddedServer(config, streams=ctx.streams)


async def warm_routes(app: Any) -> int:
    """FastAPI builds each router's route table on the first request that walks it (~100 ms of CPU for
    ours); a request that matches nothing walks them all. The server runs this once it is ready: not
    while opencode boots (that CPU would slow opencode's start), and before a real first request (the
    desktop's, or a `workspace add`) has to pay for it. Returns the status (404)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/.openwork-warm-up",
        "raw_path": b"/.openwork-warm-up",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 0),
        "server": ("127.0.0.1", 0),
    }
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    return status[0] if status else 0
