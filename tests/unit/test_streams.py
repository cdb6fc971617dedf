"""RelayResponse and the opencode relay, driven as ASGI apps: a client that leaves ends the body and
closes its upstream, the server stopping ends event streams cleanly, and no task outlives a response."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest
from starlette.background import BackgroundTask
from starlette.responses import StreamingResponse

from openwork.api.sse import relay_opencode_events
from openwork.api.streams import OpenStreams, RelayResponse
from openwork.logging import capture_logs

pytestmark = pytest.mark.anyio

STEP_TIMEOUT = 5.0  # any single step here takes milliseconds
_SCOPE = {"type": "http", "method": "GET", "path": "/stream", "headers": [], "asgi": {"version": "3.0"}}


class _Client:
    """The ASGI server's side of one request: the request, then ``http.disconnect`` when ``leave()``."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.chunk_arrived = asyncio.Event()
        self._gone = asyncio.Event()
        self._asked = False

    def leave(self) -> None:
        self._gone.set()

    async def receive(self) -> dict[str, Any]:
        if not self._asked:
            self._asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        if message.get("body"):
            self.chunk_arrived.set()

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")

    @property
    def ended(self) -> bool:
        return any(m["type"] == "http.response.body" and not m.get("more_body", False) for m in self.sent)


class _Upstream:
    """An upstream body: yields ``first``, then waits for ``more`` (forever unless set)."""

    def __init__(self) -> None:
        self.more = asyncio.Event()
        self.closed = 0
        self.background_ran = 0

    async def body(self, first: bytes = b"data: 1\n\n", last: bytes = b"") -> AsyncIterator[bytes]:
        try:
            yield first
            await self.more.wait()
            yield last
        finally:
            self.closed += 1

    async def aclose(self) -> None:
        self.background_ran += 1


def _tasks() -> int:
    return len(asyncio.all_tasks())


async def _serve(response: StreamingResponse, client: _Client) -> asyncio.Task[None]:
    task = asyncio.create_task(response(_SCOPE, client.receive, client.send))  # type: ignore[arg-type]
    async with asyncio.timeout(STEP_TIMEOUT):
        await client.chunk_arrived.wait()
    return task


async def test_a_client_that_leaves_ends_the_body_and_closes_the_upstream() -> None:
    before = _tasks()
    upstream, client = _Upstream(), _Client()
    response = RelayResponse(
        upstream.body(), media_type="text/event-stream", background=BackgroundTask(upstream.aclose)
    )
    served = await _serve(response, client)
    client.leave()
    await asyncio.wait_for(served, STEP_TIMEOUT)
    assert (upstream.closed, upstream.background_ran) == (1, 1)
    assert not client.ended  # nobody to send the end to
    assert _tasks() == before


async def test_a_send_that_fails_ends_the_body_and_closes_the_upstream() -> None:
    """How a server of ASGI spec 2.4 or later may report a client that left."""
    upstream, client = _Upstream(), _Client()
    sent = client.send

    async def fails_after_the_first_chunk(message: dict[str, Any]) -> None:
        if client.chunk_arrived.is_set():
            raise OSError("connection reset")
        await sent(message)

    client.send = fails_after_the_first_chunk  # type: ignore[method-assign]
    upstream.more.set()  # the body has a second chunk to send
    response = RelayResponse(
        upstream.body(), media_type="text/event-stream", background=BackgroundTask(upstream.aclose)
    )
    await asyncio.wait_for(response(_SCOPE, client.receive, client.send), STEP_TIMEOUT)  # type: ignore[arg-type]
    assert (upstream.closed, upstream.background_ran) == (1, 1)
    assert not client.ended


async def test_closing_ends_an_event_stream_cleanly_and_forgets_it() -> None:
    streams, upstream, client = OpenStreams(), _Upstream(), _Client()
    response = RelayResponse(
        upstream.body(), media_type="text/event-stream", background=BackgroundTask(upstream.aclose), streams=streams
    )
    served = await _serve(response, client)
    assert len(streams) == 1
    streams.close()
    await asyncio.wait_for(served, STEP_TIMEOUT)
    assert client.ended and client.body == b"data: 1\n\n"
    assert (upstream.closed, upstream.background_ran, len(streams)) == (1, 1, 0)


async def test_an_event_stream_opened_after_closing_ends_at_once() -> None:
    streams, upstream, client = OpenStreams(), _Upstream(), _Client()
    streams.close()
    response = RelayResponse(
        upstream.body(), media_type="text/event-stream", background=BackgroundTask(upstream.aclose), streams=streams
    )
    await asyncio.wait_for(response(_SCOPE, client.receive, client.send), STEP_TIMEOUT)  # type: ignore[arg-type]
    assert client.ended and client.sent[0]["type"] == "http.response.start"
    assert upstream.background_ran == 1


async def test_closing_leaves_other_bodies_to_finish() -> None:
    """A JSON body cut short would look complete to its client."""
    streams, upstream, client = OpenStreams(), _Upstream(), _Client()
    response = RelayResponse(upstream.body(b'{"a":', b"1}"), media_type="application/json", streams=streams)
    served = await _serve(response, client)
    streams.close()
    await asyncio.sleep(0.01)  # not a wait for something: the window in which a wrong cut would have happened
    assert not served.done()
    upstream.more.set()
    await asyncio.wait_for(served, STEP_TIMEOUT)
    assert client.ended and client.body == b'{"a":1}'


async def test_a_broken_upstream_leaves_the_body_visibly_incomplete() -> None:
    upstream, client = _Upstream(), _Client()

    async def breaks() -> AsyncIterator[bytes]:
        yield b'{"a":'
        raise httpx.ReadError("peer closed")

    response = RelayResponse(breaks(), media_type="application/json", background=BackgroundTask(upstream.aclose))
    with capture_logs() as logs:
        await asyncio.wait_for(response(_SCOPE, client.receive, client.send), STEP_TIMEOUT)  # type: ignore[arg-type]
    assert not client.ended  # no final chunk: the server closes the connection, the client sees a cut body
    assert upstream.background_ran == 1
    assert [e["event"] for e in logs] == ["stream.upstream_failed"]


class _Gateway:
    """``OpencodeGateway.events`` whose close, like httpcore's, awaits a few times under an anyio shield:
    a second cancellation arriving during it would leave the connection open."""

    def __init__(self) -> None:
        self.closed = asyncio.Event()

    async def events(self, directory: str) -> AsyncIterator[dict[str, Any]]:
        try:
            yield {"type": "server.connected", "properties": {}}
            await asyncio.Event().wait()
            yield {}  # pragma: no cover - never reached
        finally:
            with anyio.CancelScope(shield=True):
                for _ in range(5):
                    await asyncio.sleep(0)
            self.closed.set()


@pytest.mark.parametrize("response_class", [RelayResponse, StreamingResponse])
async def test_the_relay_closes_opencodes_stream_when_its_client_leaves(
    response_class: type[StreamingResponse],
) -> None:
    """The regression: under Starlette's own response the relay's upstream close used to be cut short."""
    before = _tasks()
    gateway, client = _Gateway(), _Client()
    scope = {**_SCOPE, "asgi": {"version": "3.0", "spec_version": "2.3"}}  # what uvicorn announces
    response = response_class(relay_opencode_events(gateway, "/w"), media_type="text/event-stream")  # type: ignore[arg-type]
    served = asyncio.create_task(response(scope, client.receive, client.send))  # type: ignore[arg-type]
    async with asyncio.timeout(STEP_TIMEOUT):
        await client.chunk_arrived.wait()
    assert b'"type":"server.connected"' in client.body and client.body.startswith(b"id: 1\n")
    client.leave()
    await asyncio.wait_for(served, STEP_TIMEOUT)
    await asyncio.wait_for(gateway.closed.wait(), STEP_TIMEOUT)
    async with asyncio.timeout(STEP_TIMEOUT):
        while _tasks() > before:
            await asyncio.sleep(0.01)
