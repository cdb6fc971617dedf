"""The WebSocket proxy's relay against a real WebSocket stand-in for opencode, over real sockets: close codes
travel both ways, the size and idle limits close both sides, and nothing is left open afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from openwork.api import AppContext, wsproxy
from openwork.lifecycle.httpserver import build_server
from openwork.runtime.gateway import OpencodeGateway
from openwork.workspaces.registry import validate_folder
from tests.apphelpers import make_context

pytestmark = pytest.mark.anyio

DEADLINE = 10.0


class StandIn:
    """opencode's side: echoes frames, records what it saw, closes with a code when told to."""

    def __init__(self) -> None:
        self.seen: list[str | bytes] = []
        self.close_codes: list[int | None] = []
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.connected = asyncio.Event()
        self.closed = asyncio.Event()

    async def handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        self.paths.append(ws.request.path)
        self.headers.append({k.lower(): v for k, v in ws.request.headers.raw_items()})
        self.connected.set()
        try:
            async for frame in ws:
                self.seen.append(frame)
                if frame == "close-4002":
                    await ws.close(code=4002)
                    break
                await ws.send(frame)
        except ConnectionClosed:
            pass
        self.close_codes.append(ws.close_code)
        self.closed.set()


async def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@contextlib.asynccontextmanager
async def _serving(isolated_env: Path, workspace: Path) -> AsyncIterator[tuple[AppContext, StandIn, str, Any]]:
    """Our real HTTP server (uvicorn on a socket) proxying to a real WebSocket stand-in for opencode."""
    ctx = make_context(isolated_env, workspace)
    record, _ = ctx.registry.add(validate_folder(str(workspace)))
    stand_in = StandIn()
    async with serve(stand_in.handler, "127.0.0.1", 0) as upstream:
        port = upstream.sockets[0].getsockname()[1]
        stand_in_driver = SimpleNamespace(url=f"http://127.0.0.1:{port}", auth=None)
        ctx.gateway = OpencodeGateway(stand_in_driver, lambda: True)  # type: ignore[arg-type]
        server = await asyncio.to_thread(build_server, ctx)
        sock = socket.create_server(("127.0.0.1", 0))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        async with asyncio.timeout(DEADLINE):
            while not server.started:
                await asyncio.sleep(0.01)
        url = f"ws://127.0.0.1:{sock.getsockname()[1]}/workspaces/{record.id}/opencode/pty/pty_1/connect"
        try:
            yield ctx, stand_in, url, server
        finally:
            server.request_exit()
            await asyncio.wait_for(task, DEADLINE)


@pytest.fixture
async def proxied(isolated_env: Path, workspace: Path) -> AsyncIterator[tuple[AppContext, StandIn, str, str]]:
    async with _serving(isolated_env, workspace) as (ctx, stand_in, url, _):
        yield ctx, stand_in, url, ctx.credentials.client_token


def _auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def test_frames_pass_and_a_client_close_code_reaches_opencode(proxied: Any) -> None:
    ctx, stand_in, url, token = proxied
    async with connect(url, additional_headers=_auth(token)) as ws:
        await ws.send("hello")
        assert await asyncio.wait_for(ws.recv(), DEADLINE) == "hello"
        await ws.send(b"\x00bytes")
        assert await asyncio.wait_for(ws.recv(), DEADLINE) == b"\x00bytes"
        await ws.close(code=4001)
    await asyncio.wait_for(stand_in.closed.wait(), DEADLINE)
    assert stand_in.close_codes == [4001]
    assert stand_in.paths[0].startswith("/pty/pty_1/connect?")
    assert f"directory={ctx.registry.list()[0].path}".replace("/", "%2F") in stand_in.paths[0]
    assert "authorization" not in stand_in.headers[0]  # the caller's token never reaches opencode


async def test_opencode_closing_closes_the_client_with_its_code(proxied: Any) -> None:
    _, _, url, token = proxied
    async with connect(url, additional_headers=_auth(token)) as ws:
        await ws.send("close-4002")
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), DEADLINE)
        assert ws.close_code == 4002


async def test_an_oversized_frame_closes_both_sides(proxied: Any) -> None:
    _, stand_in, url, token = proxied
    async with connect(url, additional_headers=_auth(token), max_size=None) as ws:
        await ws.send("x" * (wsproxy.WS_MAX_MESSAGE + 1))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), DEADLINE)
        assert ws.close_code == 1009  # message too big
    await asyncio.wait_for(stand_in.closed.wait(), DEADLINE)
    assert stand_in.seen == []  # it never reached opencode


async def test_an_idle_connection_is_closed_on_both_sides(proxied: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _, stand_in, url, token = proxied
    monkeypatch.setattr(wsproxy, "WS_IDLE_TIMEOUT", 0.3)
    async with connect(url, additional_headers=_auth(token)) as ws:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), DEADLINE)
        assert ws.close_code == 1001
    await asyncio.wait_for(stand_in.closed.wait(), DEADLINE)
    assert stand_in.close_codes == [1001]


async def test_refused_before_opencode_is_contacted(proxied: Any) -> None:
    ctx, stand_in, url, _ = proxied
    for headers in (
        {},
        _auth("not-a-token" * 4),
        _auth(ctx.tokens.mint(scope="viewer", label="", ttl_seconds=None)[1]),
    ):
        with pytest.raises(Exception) as refused:
            async with connect(url, additional_headers=headers):
                pass
        assert "403" in str(refused.value) or "401" in str(refused.value), refused.value
    assert stand_in.paths == []


async def test_no_fd_is_left_after_many_connections(proxied: Any) -> None:
    _, _, url, token = proxied
    async with connect(url, additional_headers=_auth(token)) as ws:  # warm up: imports, pools
        await ws.send("warm")
        await ws.recv()
    before = await _fds()
    for i in range(20):
        async with connect(url, additional_headers=_auth(token)) as ws:
            await ws.send(f"n{i}")
            await asyncio.wait_for(ws.recv(), DEADLINE)
            if i % 2:
                await ws.send("close-4002")  # half closed from opencode's side
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), DEADLINE)

    async def settled() -> bool:
        return await _fds() <= before

    async with asyncio.timeout(DEADLINE):
        while not await settled():
            await asyncio.sleep(0.05)


async def test_a_stopping_server_closes_open_relays_on_both_sides(isolated_env: Path, workspace: Path) -> None:
    async with _serving(isolated_env, workspace) as (ctx, stand_in, url, server):
        async with connect(url, additional_headers=_auth(ctx.credentials.client_token)) as ws:
            await ws.send("open")
            await ws.recv()
            server.request_exit()
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), DEADLINE)
        await asyncio.wait_for(stand_in.closed.wait(), DEADLINE)  # and the stop was not held by the relay
