"""Time as a dependency, so restart schedules are tested without sleeping."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

__all__ = ["Clock", "MonotonicClock", "wait_first"]


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds."""
        ...

    def wall(self) -> float:
        """Unix seconds, for records shown to people."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    """The real clock."""

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def wait_first(
    clock: Clock, delay: float, events: tuple[asyncio.Event, ...], tasks: set[asyncio.Future[Any]]
) -> set[asyncio.Future[Any]]:
    """Wait until ``delay`` passes on ``clock``, an event is set or a task ends.

    Returns the tasks that ended; the tasks themselves are the caller's and are left running.
    """
    timers: set[asyncio.Future[Any]] = {asyncio.ensure_future(clock.sleep(delay))}
    timers.update(asyncio.ensure_future(event.wait()) for event in events)
    waited: set[asyncio.Future[Any]] = {*timers, *tasks}
    try:
        done, _ = await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for timer in timers:
            timer.cancel()
        await asyncio.gather(*timers, return_exceptions=True)
    return {task for task in tasks if task in done}
