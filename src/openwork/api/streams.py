"""Streamed responses that end when their client leaves or the server stops, and close what they read.

Why not Starlette's ``StreamingResponse`` as it is: under ASGI spec 2.3 (what uvicorn's HTTP protocols
announce) it listens for ``http.disconnect`` in an anyio task group, and that cancel scope re-cancels
the body on every loop turn until it returns. A body that relays an httpx stream from a task of its
own (our opencode event relay) awaits that task in its ``finally``; each re-cancel is forwarded into
it and interrupts httpcore's close of the upstream connection (its shield covers anyio scopes, not a
plain ``Task.cancel``). The connection then stays ESTABLISHED and counted as ACTIVE in the gateway's
pool for good: 200 short-lived subscribers and every proxied request waits for a free connection.
Under spec 2.4 it stops listening altogether and waits for ``send()`` to raise, which uvicorn never
does (it drops what is sent after a disconnect), so a stream would outlive its client.

``RelayResponse`` owns the whole life instead: the body runs in a task that is cancelled exactly once
(client gone, or the server stopping), its cleanup is awaited without forwarding anything more into
it, and on every path the body iterator is closed and ``background`` (the upstream's ``aclose``) runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Mapping

import httpx
from starlette.background import BackgroundTask
from starlette.responses import ContentStream, StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from openwork.errors import OpenworkError
from openwork.logging import get_logger

__all__ = ["STREAM_CLEANUP_TIMEOUT", "OpenStreams", "RelayResponse", "await_cleanup"]

log = get_logger("openwork.streams")

STREAM_CLEANUP_TIMEOUT = 5.0  # seconds a stopped body gets to close its upstream connection
# A body that fails with one of these lost its upstream or its client: an event, not a traceback.
_STREAM_ERRORS = (OSError, httpx.HTTPError, OpenworkError)
_EVENT_STREAM = "text/event-stream"


class OpenStreams:
    """The server's live event streams. ``close()`` (the server is stopping) ends each one with a clean
    end of body, so uvicorn's drain finds no busy connection; a stream opened afterwards ends at once."""

    def __init__(self) -> None:
        self._live: set[asyncio.Task[None]] = set()
        self.closed = False

    def __len__(self) -> int:
        return len(self._live)

    def close(self) -> None:
        """End every open stream; idempotent."""
        self.closed = True
        for body in list(self._live):
            _cancel_once(body)

    @contextlib.contextmanager
    def track(self, body: asyncio.Task[None]) -> Iterator[None]:
        """Count ``body`` as live while the block runs; ``close()`` cancels it."""
        self._live.add(body)
        if self.closed:
            _cancel_once(body)
        try:
            yield
        finally:
            self._live.discard(body)


async def await_cleanup(*tasks: asyncio.Task[None], timeout: float = STREAM_CLEANUP_TIMEOUT) -> bool:
    """Wait up to ``timeout`` for cancelled ``tasks`` to finish their cleanup; True when all did.

    ``asyncio.wait`` never forwards a cancellation of the waiter into the tasks (``await task`` does):
    a second cancel would cut httpcore's connection close short and leak the connection. Whatever
    the tasks end with is retrieved, so asyncio does not report it as never retrieved."""
    _, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in tasks:
        task.add_done_callback(_retrieve)
    return not pending


def _cancel_once(task: asyncio.Task[None]) -> None:
    # A second cancel would land in the body's own cleanup (see ``await_cleanup``).
    if not task.done() and not task.cancelling():
        task.cancel()


def _retrieve(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass  # the request body (already read by the route, or empty): not ours to keep


class RelayResponse(StreamingResponse):
    """A ``StreamingResponse`` that notices its client leaving whatever the server's ASGI spec version,
    and then stops its body, closes its iterator and runs ``background`` (close the upstream there).

    An event stream (``text/event-stream``) also ends, cleanly, when ``streams`` closes. Any other body
    is left to finish: cut short it would look complete. A body whose upstream breaks ends without a
    final chunk, so the server closes the connection and the client sees a truncated body as such."""

    def __init__(
        self,
        content: ContentStream,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
        *,
        streams: OpenStreams | None = None,
    ) -> None:
        super().__init__(content, status_code, headers, media_type, background)
        self.streams = streams if streams is not None else OpenStreams()  # a private one never closes
        self._started = False
        self._client_gone = False

    @property
    def is_event_stream(self) -> bool:
        return self.headers.get("content-type", "").startswith(_EVENT_STREAM)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # a WebSocket denial response: Starlette's own path
            await super().__call__(scope, receive, send)
            return
        body = asyncio.create_task(self._send_body(send), name="stream-body")
        watcher = asyncio.create_task(_until_disconnect(receive), name="stream-disconnect")
        settled = False
        try:
            with self.streams.track(body) if self.is_event_stream else contextlib.nullcontext():
                await asyncio.wait((body, watcher), return_when=asyncio.FIRST_COMPLETED)
        finally:
            watcher.cancel()
            _cancel_once(body)
            try:
                settled = await await_cleanup(body, watcher)
            finally:
                await self._release(settled)
        if not settled:
            log.warning("stream.cleanup_timeout", path=scope.get("path"), timeout_s=STREAM_CLEANUP_TIMEOUT)
            return
        await self._finish(scope, send, body, watcher)

    async def _send_body(self, send: Send) -> None:
        if not await self._send(send, self._start_message()):
            return
        self._started = True
        async for chunk in self.body_iterator:
            data = chunk if isinstance(chunk, bytes | memoryview) else chunk.encode(self.charset)
            if not await self._send(send, {"type": "http.response.body", "body": data, "more_body": True}):
                return  # the iterator is closed by ``_release``

    def _start_message(self) -> Message:
        return {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}

    async def _send(self, send: Send, message: Message) -> bool:
        try:
            await send(message)
        except OSError:  # how an ASGI >= 2.4 server may report a client that is gone
            self._client_gone = True
            return False
        return True

    async def _release(self, settled: bool) -> None:
        try:
            aclose = getattr(self.body_iterator, "aclose", None)
            if settled and aclose is not None:  # a body still running cannot be closed from here
                with contextlib.suppress(*_STREAM_ERRORS):
                    await aclose()
        finally:
            if self.background is not None:
                await self.background()

    async def _finish(self, scope: Scope, send: Send, body: asyncio.Task[None], watcher: asyncio.Task[None]) -> None:
        if self._client_gone or (watcher.done() and not watcher.cancelled()):
            return  # nobody to send the end to
        error = None if body.cancelled() else body.exception()
        if error is not None:
            if not isinstance(error, _STREAM_ERRORS):
                raise error  # a bug: the server logs it with its traceback
            if not self.streams.closed:  # while stopping, opencode going away is expected
                log.warning("stream.upstream_failed", path=scope.get("path"), error=type(error).__name__)
            if not self.is_event_stream:
                return  # no final chunk: the connection closes, the body is visibly incomplete
        if not self._started:
            await send(self._start_message())
        await send({"type": "http.response.body", "body": b"", "more_body": False})
