"""The embedded HTTP server: route tables built before the first request, and a prompt stop."""

from __future__ import annotations

import asyncio
import socket

import pytest

from openwork.api import AppContext, create_app
from openwork.lifecycle.httpserver import build_server, warm_routes
from tests.apphelpers import asgi_client

pytestmark = pytest.mark.anyio


async def test_warm_up_matches_nothing_and_leaves_the_app_serving(ctx: AppContext) -> None:
    app = create_app(ctx)
    assert await warm_routes(app) == 404
    async with asgi_client(ctx, token=ctx.credentials.client_token) as client:
        r = await client.get("/workspaces")
    assert r.status_code == 200 and r.json()["ok"] is True


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
    loop = asyncio.get_running_loop()
    began = loop.time()
    server.request_exit()
    await asyncio.wait_for(task, 5)
    # uvicorn alone notices on a 100 ms tick and drains in 100 ms steps
    assert loop.time() - began < 0.1
    writer.close()
