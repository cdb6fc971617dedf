"""Server-sent events: framing, and the streams over a bus subscription and over opencode's events."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING, Any

from openwork.api.models.system import EventMessage
from openwork.api.streams import OpenStreams, RelayResponse, await_cleanup
from openwork.constants import DEFAULT_SSE_KEEPALIVE, DEFAULT_SSE_QUEUE
from openwork.errors import SupervisorError
from openwork.logging import get_logger
from openwork.runtime.events import Subscription

if TYPE_CHECKING:
    from openwork.runtime.gateway import OpencodeGateway

__all__ = ["SSE_HEADERS", "event_stream", "format_event", "relay_opencode_events"]

log = get_logger("openwork.streams")

SSE_HEADERS = {"cache-control": "no-store", "x-accel-buffering": "no"}


def format_event(*, data: Any, event: str | None = None, id: int | None = None) -> bytes:
    """One SSE frame. ``data`` is JSON on a single line, so no payload can inject frame fields."""
    lines = []
    if id is not None:
        lines.append(f"id: {id}")
    if event is not None:
        lines.append(f"event: {event.replace(chr(10), ' ').replace(chr(13), ' ')}")
    lines.append("data: " + json.dumps(data, separators=(",", ":"), ensure_ascii=True))
    return ("\n".join(lines) + "\n\n").encode()


async def _frames(
    sub: Subscription,
    initial: Iterable[bytes],
    keepalive: float,
    scrub: Callable[[dict[str, Any]], dict[str, Any]] | None,
) -> AsyncIterator[bytes]:
    try:
        for frame in initial:
            yield frame
        while True:
            try:
                event = await sub.get(timeout=keepalive)
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            if event is None:
                return
            if sub.dropped:
                yield format_event(event="stream.lagged", data={"dropped": sub.dropped})
                sub.dropped = 0
            message = EventMessage.of(event).wire()
            yield format_event(id=event.id, event=event.type, data=scrub(message) if scrub else message)
    finally:
        sub.close()


def event_stream(
    sub: Subscription,
    *,
    initial: Iterable[bytes] = (),
    keepalive: float = DEFAULT_SSE_KEEPALIVE,
    streams: OpenStreams | None = None,
    scrub: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> RelayResponse:
    """The bus as SSE; ends when the client leaves, the bus closes, or ``streams`` closes. ``scrub``: what
    this caller may not see is taken out of each event's wire form first."""
    return RelayResponse(
        _frames(sub, initial, keepalive, scrub), media_type="text/event-stream", headers=SSE_HEADERS, streams=streams
    )


async def relay_opencode_events(
    gateway: OpencodeGateway, directory: str, keepalive: float = DEFAULT_SSE_KEEPALIVE
) -> AsyncIterator[bytes]:
    """opencode's events for ``directory`` as SSE ``{type, properties}`` frames with an increasing ``id:``,
    a comment when idle for ``keepalive`` seconds, and one ``openwork.stream_error`` frame if opencode's
    stream breaks. Closing the generator closes the upstream connection before it returns."""
    ids = itertools.count(1)
    queue: asyncio.Queue[dict[str, Any] | SupervisorError | None] = asyncio.Queue(maxsize=DEFAULT_SSE_QUEUE)

    async def pump() -> None:
        # A task of its own, so an idle upstream never blocks the keep-alive comments.
        try:
            async for event in gateway.events(directory):
                await queue.put(event)
            await queue.put(None)
        except SupervisorError as exc:
            await queue.put(exc)

    task = asyncio.create_task(pump(), name="opencode-events")
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), keepalive)
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            if item is None:
                return
            if isinstance(item, SupervisorError):
                error = {"type": "openwork.stream_error", "properties": {"message": str(item)}}
                yield format_event(id=next(ids), data=error)
                return
            yield format_event(id=next(ids), data=item)
    finally:
        # The client left, the server stops or opencode ended: one cancel, then its cleanup closes the
        # upstream connection (never `await task`, which would forward a second cancel into that).
        task.cancel()
        if not await await_cleanup(task):
            log.warning("stream.upstream_close_timeout", directory=directory)
