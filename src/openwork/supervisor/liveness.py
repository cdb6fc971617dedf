"""Health of a child: gate its start on a probe, then probe it on a schedule and tell an exit from a hang."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from openwork.logging import get_logger
from openwork.supervisor.clock import Clock, wait_first
from openwork.supervisor.policy import Liveness
from openwork.supervisor.process import ProcessHandle

__all__ = ["await_healthy", "watch"]

log = get_logger("openwork.supervisor")

_MAX_PROBES = 4  # start probes in flight at once


async def _cancel(task: asyncio.Future[Any]) -> None:
    if not task.done():
        task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def watch(
    *,
    name: str,
    handle: ProcessHandle,
    probe: Callable[[], Awaitable[bool]],
    liveness: Liveness | None,
    clock: Clock,
) -> int | None:
    """Wait for ``handle`` to exit and return its code, or return ``None`` once it is hung.

    Hung: ``liveness.failures`` probes in a row failed, or one probe went unanswered for
    ``liveness.timeout``. Probes start every ``interval`` (start to start, so a slow probe does not
    stretch the schedule) and never overlap: the next starts only once the previous has ended.
    """
    exit_task = asyncio.ensure_future(handle.wait())
    try:
        if liveness is None:
            return await exit_task
        failures = 0
        next_at = clock.now() + liveness.interval
        while True:
            if await wait_first(clock, max(0.0, next_at - clock.now()), (), {exit_task}):
                return exit_task.result()
            next_at = clock.now() + liveness.interval
            probe_task = asyncio.ensure_future(probe())
            try:
                done = await wait_first(clock, liveness.timeout, (), {exit_task, probe_task})
            finally:
                await _cancel(probe_task)
            if exit_task in done:
                return exit_task.result()
            if probe_task not in done:
                log.warning("service.probe_unanswered", service=name, pid=handle.pid, timeout_s=liveness.timeout)
                return None
            answered = not probe_task.cancelled() and probe_task.exception() is None and bool(probe_task.result())
            if answered:
                failures = 0
                continue
            failures += 1
            log.info("service.probe_failed", service=name, pid=handle.pid, failures=failures, of=liveness.failures)
            if failures >= liveness.failures:
                return None
    finally:
        await _cancel(exit_task)


async def await_healthy(
    *,
    handle: ProcessHandle,
    probe: Callable[[], Awaitable[bool]],
    clock: Clock,
    poll: float,
    start_timeout: float,
    stop: asyncio.Event,
    output_seen: asyncio.Event,
) -> tuple[bool, str]:
    """Until the start deadline: whether the child became healthy, and if not why.

    Probes every ``poll``, and at once whenever the child prints (often "listening").

    Probes overlap instead of queueing: opencode accepts connections a moment before it serves them
    and never answers a request that arrived in that window, so a fresh probe sent after the
    "listening" line must not wait behind a stuck one.
    """
    deadline = clock.now() + start_timeout
    probes: set[asyncio.Future[bool]] = set()
    next_probe = clock.now()
    try:
        while True:
            if stop.is_set():
                return False, "stopped while starting"
            if handle.returncode is not None:
                return False, f"exited with code {handle.returncode} while starting"
            now = clock.now()
            if now >= deadline:
                return False, f"not healthy within {start_timeout:g}s"
            if now >= next_probe or output_seen.is_set():
                output_seen.clear()
                next_probe = now + poll  # also when at the cap: never spin
                if len(probes) < _MAX_PROBES:
                    probes.add(asyncio.ensure_future(probe()))
            wait = max(0.0, min(next_probe, deadline) - now)
            for done in await wait_first(clock, wait, (output_seen, stop), probes):
                probes.discard(done)
                if not done.cancelled() and done.exception() is None and done.result():
                    return True, ""
    finally:
        for pending in probes:
            pending.cancel()
        await asyncio.gather(*probes, return_exceptions=True)
