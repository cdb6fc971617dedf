"""In-process event bus feeding the SSE endpoints. Each subscriber has a bounded queue: a slow reader
loses its oldest events (and is told how many), it never slows the publisher or other readers."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from openwork.constants import DEFAULT_SSE_QUEUE

__all__ = ["Event", "EventBus", "Subscription"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Event:
    id: int
    type: str
    data: dict[str, Any]
    at: float = field(default_factory=time.time)


class Subscription:
    """One reader's queue. Iterate it; it ends when the bus closes or ``close()`` is called."""

    def __init__(self, bus: EventBus, maxsize: int) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=maxsize)
        self.dropped = 0
        self.closed = False

    def _offer(self, event: Event | None) -> None:
        while True:
            try:
                self._queue.put_nowait(event)
                return
            except asyncio.QueueFull:
                self._queue.get_nowait()  # drop the oldest; the reader is behind
                self.dropped += 1

    async def get(self, timeout: float) -> Event | None:
        """Next event; ``None`` when closed. Raises ``TimeoutError`` when idle for ``timeout``."""
        if self.closed and self._queue.empty():
            return None
        event = await asyncio.wait_for(self._queue.get(), timeout)
        if event is None:
            self.closed = True
        return event

    def close(self) -> None:
        if not self.closed:
            self._bus._unsubscribe(self)
            self._offer(None)

    async def __aiter__(self) -> AsyncIterator[Event]:  # pragma: no cover - convenience
        while (event := await self.get(timeout=3600)) is not None:
            yield event


class EventBus:
    def __init__(self, *, maxsize: int = DEFAULT_SSE_QUEUE) -> None:
        self._subs: set[Subscription] = set()
        self._ids = itertools.count(1)
        self._maxsize = maxsize
        self._closed = False

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)

    def subscribe(self) -> Subscription:
        sub = Subscription(self, self._maxsize)
        if self._closed:
            sub._offer(None)
        else:
            self._subs.add(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def publish(self, type_: str, data: dict[str, Any]) -> Event:
        event = Event(id=next(self._ids), type=type_, data=data)
        for sub in list(self._subs):
            sub._offer(event)
        return event

    def close(self) -> None:
        """End every stream (server shutdown)."""
        self._closed = True
        for sub in list(self._subs):
            sub.close()
