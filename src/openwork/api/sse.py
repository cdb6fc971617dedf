"""Server-sent events framing and the streaming response over a bus subscription."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

from starlette.responses import StreamingResponse

from openwork.constants import DEFAULT_SSE_KEEPALIVE
from openwork.events import Subscription

__all__ = ["event_stream", "format_event"]


def format_event(*, data: Any, event: str | None = None, id: int | None = None) -> bytes:
    """One SSE frame. ``data`` is JSON on a single line, so no payload can inject frame fields."""
    lines = []
    if id is not None:
        lines.append(f"id: {id}")
    if event is not None:
        lines.append(f"event: {event.replace(chr(10), ' ').replace(chr(13), ' ')}")
    lines.append("data: " + json.dumps(data, separators=(",", ":"), ensure_ascii=True))
    return ("\n".join(lines) + "\n\n").encode()


async def _frames(sub: Subscription, initial: Iterable[bytes], keepalive: float) -> AsyncIterator[bytes]:
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
            yield format_event(id=event.id, event=event.type, data=event.to_json())
    finally:
        sub.close()


def event_stream(
    sub: Subscription, *, initial: Iterable[bytes] = (), keepalive: float = DEFAULT_SSE_KEEPALIVE
) -> StreamingResponse:
    return StreamingResponse(
        _frames(sub, initial, keepalive),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )
