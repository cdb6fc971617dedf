"""The embedded HTTP server: a stop with an idle keep-alive connection open is bounded."""

from __future__ import annotations

import asyncio
import socket

import pytest

from openwork.api import AppContext
from openwork.constants import HTTP_SHUTDOWN_TIMEOUT
from openwork.lifecycle.httpserver import build_server

pytestmark = pytest.mark.anyio


async def test_stop_is_prompt_with_an_idle_keep_alive_connection(ctx: AppContext) -> None:
    server = await asyncio.to_thread(build_server, ctx)
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    async with asyncio.timeout(10):
        while not server.started:
            await asyncio.sleep(0.01)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /system/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await writer.drain()
    assert b"200" in await reader.readline()
    headers = dict(line.split(b":", 1) for line in (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n") if b":" in line)
    await reader.readexactly(int(headers[b"content-length"]))  # the answer; the connection is idle now
    server.request_exit()
    # The idle connection does not hold the stop until the graceful timeout: uvicorn closes it.
    await asyncio.wait_for(task, HTTP_SHUTDOWN_TIMEOUT - 1)
    assert await reader.read() == b""  # the server closed the idle connection
    writer.close()
