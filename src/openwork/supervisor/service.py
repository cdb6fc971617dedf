"""One supervised service: start gated on health, restart with backoff, give up, stop in order."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import structlog

from openwork.config import RestartPolicy
from openwork.constants import DEFAULT_HEALTH_POLL_INTERVAL
from openwork.errors import GaveUp, StartTimeout, SupervisorError
from openwork.supervisor.clock import Clock
from openwork.supervisor.process import ProcessHandle, Spawner, SpawnSpec
from openwork.supervisor.state import ExitInfo, ServiceState, ServiceStatus

__all__ = ["Service", "ServiceDriver"]

log = structlog.get_logger("openwork.supervisor")

_LAST_LINES = 20  # output lines kept with an exit record
_LAST_LINE_CHARS = 2048  # of each such line
_MAX_PROBES = 4  # start probes in flight at once
# A port taken between our check and the child's bind: retried on a fresh port, not a crash loop.
# opencode 1.18 says only "ServeError" when its port is taken.
_RETRYABLE_MARKERS = ("eaddrinuse", "address already in use", "address in use", "serveerror")


class ServiceDriver(Protocol):
    """What differs between services: how to build the command, how to tell it is healthy."""

    async def prepare(self) -> SpawnSpec:
        """Build the command for the next attempt (e.g. pick a free port)."""
        ...

    async def healthy(self) -> bool:
        """One health probe of the current attempt; must have its own short timeout."""
        ...

    def details(self) -> dict[str, object]:
        """Extra fields for status output (port, url, version...)."""
        ...


class Service:
    """Supervises one child. ``start()`` returns once the first attempt is healthy or raises."""

    def __init__(
        self,
        *,
        name: str,
        driver: ServiceDriver,
        spawner: Spawner,
        clock: Clock,
        policy: RestartPolicy,
        required: bool = True,
        fail_fast: bool = True,
        poll_interval: float = DEFAULT_HEALTH_POLL_INTERVAL,
        on_change: Callable[[ServiceStatus], None] | None = None,
        on_line: Callable[[str, str, str], None] | None = None,
        redact: Callable[[str], str] = str,
    ) -> None:
        self.name = name
        self._driver = driver
        self._spawner = spawner
        self._clock = clock
        self._policy = policy
        self._required = required
        self._fail_fast = fail_fast  # the very first start failing is an error, not a restart loop
        self._poll = poll_interval
        self._on_change = on_change
        self._on_line = on_line
        self._redact = redact  # exit records are served by the API: never raw child output
        self._recent: deque[str] = deque(maxlen=_LAST_LINES)  # for exit records and start errors
        self._state = ServiceState.PENDING
        self._handle: ProcessHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop_event = asyncio.Event()
        self._first_outcome: asyncio.Future[None] | None = None
        self.gave_up = asyncio.Event()
        self._restarts = 0
        self._failures = 0
        self._started_at: float | None = None
        self._next_restart_at: float | None = None
        self._last_exit: ExitInfo | None = None
        self.failure: SupervisorError | None = None
        self._expected_restart = False
        self._output_seen = asyncio.Event()

    # -- status ---------------------------------------------------------------------------------
    @property
    def state(self) -> ServiceState:
        return self._state

    def status(self) -> ServiceStatus:
        next_in = None
        if self._state is ServiceState.RESTART_SCHEDULED and self._next_restart_at is not None:
            next_in = max(0.0, round(self._next_restart_at - self._clock.now(), 3))
        return ServiceStatus(
            name=self.name,
            state=self._state,
            required=self._required,
            pid=self._handle.pid if self._handle and self._handle.returncode is None else None,
            restarts=self._restarts,
            consecutive_failures=self._failures,
            started_at=self._started_at,
            next_restart_in=next_in,
            last_exit=self._last_exit,
            details=self._driver.details(),
        )

    def _set(self, state: ServiceState, **fields: object) -> None:
        self._state = state
        log.info("service.state", service=self.name, state=state.value, **fields)
        if self._on_change is not None:
            self._on_change(self.status())

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start supervising; wait for the first healthy run. Safe to call twice."""
        if self._task is None:
            self._stop_event.clear()
            self._first_outcome = asyncio.get_running_loop().create_future()
            self._task = asyncio.create_task(self._run(), name=f"supervise:{self.name}")
        assert self._first_outcome is not None
        await asyncio.shield(self._first_outcome)

    async def stop(self, *, force: bool = False) -> None:
        """Stop the child (SIGTERM, then SIGKILL at the deadline; at once with ``force``). Idempotent."""
        self._stop_event.set()
        if self._task is None:
            if self._state is not ServiceState.STOPPED:
                self._set(ServiceState.STOPPED)
            return
        if self._state not in (ServiceState.STOPPED, ServiceState.ERRORED):
            self._set(ServiceState.STOPPING)
        handle = self._handle
        if handle is not None:
            await handle.terminate(self._policy.stop_timeout, force=force)
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        if self._state is not ServiceState.ERRORED:
            self._set(ServiceState.STOPPED)

    async def restart(self) -> None:
        """Ask for a fresh run now (used by the dashboard's `r`). Counts as no failure."""
        if self._handle is not None and self._state is ServiceState.RUNNING:
            self._expected_restart = True
            await self._handle.terminate(self._policy.stop_timeout)

    def _resolve_first(self, error: SupervisorError | None) -> None:
        fut = self._first_outcome
        if fut is not None and not fut.done():
            if error is None:
                fut.set_result(None)
            else:
                fut.set_exception(error)

    # -- the loop -------------------------------------------------------------------------------
    async def _run(self) -> None:
        try:
            await self._loop()
        except Exception as exc:  # a bug here must surface, not hang the stack
            log.error("service.supervisor_crashed", service=self.name, error=repr(exc))
            self.failure = SupervisorError(f"supervisor of {self.name} failed: {exc}")
            self._set(ServiceState.ERRORED)
            self.gave_up.set()
            self._resolve_first(self.failure)

    async def _loop(self) -> None:
        ever_healthy = False
        while not self._stop_event.is_set():
            self._set(ServiceState.STARTING)
            exit_info, was_healthy = await self._attempt()
            ever_healthy = ever_healthy or was_healthy
            if self._stop_event.is_set():
                break
            if self._expected_restart:
                self._expected_restart = False
                self._restarts += 1
                continue
            self._failures += 1
            self._last_exit = exit_info
            self._set(ServiceState.CRASHED, code=exit_info.code, reason=exit_info.reason)
            retryable = any(m in " ".join(exit_info.last_lines).lower() for m in _RETRYABLE_MARKERS)
            if self._failures >= self._policy.max_failures or (self._fail_fast and not ever_healthy and not retryable):
                self._give_up(exit_info, ever_healthy)
                return
            delay = self._policy.delay_for(self._failures)
            self._next_restart_at = self._clock.now() + delay
            self._set(ServiceState.RESTART_SCHEDULED, delay_s=delay, failures=self._failures)
            if await self._sleep_until(delay, self._stop_event):
                break
            self._restarts += 1
        self._resolve_first(SupervisorError(f"{self.name} was stopped before it became healthy"))

    def _give_up(self, exit_info: ExitInfo, ever_healthy: bool) -> None:
        tail = "\n".join(f"  {line}" for line in exit_info.last_lines[-10:])
        if ever_healthy or self._failures >= self._policy.max_failures:
            msg = f"{self.name} failed {self._failures} times in a row; giving up ({exit_info.reason})"
            self.failure = GaveUp(msg + (f"\nlast output:\n{tail}" if tail else ""))
        else:
            msg = f"{self.name} did not start: {exit_info.reason}"
            self.failure = StartTimeout(msg + (f"\nlast output:\n{tail}" if tail else ""))
        self._set(ServiceState.ERRORED, reason=exit_info.reason)
        self.gave_up.set()
        self._resolve_first(self.failure)

    async def _sleep_until(self, delay: float, event: asyncio.Event) -> bool:
        """Sleep ``delay`` on the injected clock, cut short by ``event``. True when the event cut it."""
        await self._wait_first(delay, (event,), set())
        return event.is_set()

    async def _wait_first(
        self, delay: float, events: tuple[asyncio.Event, ...], tasks: set[asyncio.Future[bool]]
    ) -> set[asyncio.Future[bool]]:
        """Wait until ``delay`` passes on the injected clock, an event is set or a task ends.

        Returns the tasks that ended; the tasks themselves are the caller's and are left running.
        """
        timers: set[asyncio.Future[Any]] = {asyncio.ensure_future(self._clock.sleep(delay))}
        timers.update(asyncio.ensure_future(event.wait()) for event in events)
        waited: set[asyncio.Future[Any]] = {*timers, *tasks}
        try:
            done, _ = await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for timer in timers:
                timer.cancel()
            await asyncio.gather(*timers, return_exceptions=True)
        return {task for task in tasks if task in done}

    def _line(self, line: str, stream: str) -> None:
        self._recent.append(self._redact(line[:_LAST_LINE_CHARS]))
        self._output_seen.set()
        if self._on_line is not None:
            self._on_line(self.name, line, stream)

    async def _attempt(self) -> tuple[ExitInfo, bool]:
        """One run: spawn, wait healthy, wait for the exit. Returns how it ended."""
        try:
            spec = await self._driver.prepare()
            handle = await self._spawner.spawn(spec, self._line)
        except SupervisorError as exc:
            return ExitInfo(code=None, reason=exc.message, at=self._clock.wall()), False
        self._handle = handle
        try:
            healthy, reason = await self._await_healthy(handle)
            if not healthy:
                rc = await handle.terminate(self._policy.stop_timeout)
                return self._exit(rc if handle.returncode is not None else None, reason), False
            self._started_at = self._clock.wall()
            healthy_since = self._clock.now()
            self._set(ServiceState.RUNNING, pid=handle.pid)
            self._resolve_first(None)
            rc = await handle.wait()
            if self._clock.now() - healthy_since >= self._policy.reset_after:
                self._failures = 0  # a long healthy run forgives earlier failures
            # The leader is gone; its group may not be. Clean it up before any restart.
            await handle.terminate(self._policy.stop_timeout)
            return self._exit(rc, f"exited with code {rc}" if rc >= 0 else "killed by a signal"), True
        except asyncio.CancelledError:
            await handle.terminate(self._policy.stop_timeout, force=True)
            raise
        finally:
            await self._after_exit()

    async def _after_exit(self) -> None:
        """Let the driver clean up what outlives its process (a sandbox's container)."""
        hook = getattr(self._driver, "after_exit", None)
        if hook is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(hook())

    def _exit(self, rc: int | None, reason: str) -> ExitInfo:
        return ExitInfo(code=rc, reason=reason, at=self._clock.wall(), last_lines=tuple(self._recent))

    async def _await_healthy(self, handle: ProcessHandle) -> tuple[bool, str]:
        """Probe every poll interval, and at once whenever the child prints (often "listening").

        Probes overlap instead of queueing: opencode accepts connections a moment before it serves them
        and never answers a request that arrived in that window, so a fresh probe sent after the
        "listening" line must not wait behind a stuck one.
        """
        deadline = self._clock.now() + self._policy.start_timeout
        probes: set[asyncio.Future[bool]] = set()
        next_probe = self._clock.now()
        try:
            while True:
                if self._stop_event.is_set():
                    return False, "stopped while starting"
                if handle.returncode is not None:
                    return False, f"exited with code {handle.returncode} while starting"
                now = self._clock.now()
                if now >= deadline:
                    return False, f"not healthy within {self._policy.start_timeout:g}s"
                if now >= next_probe or self._output_seen.is_set():
                    self._output_seen.clear()
                    next_probe = now + self._poll  # also when at the cap: never spin
                    if len(probes) < _MAX_PROBES:
                        probes.add(asyncio.ensure_future(self._driver.healthy()))
                wait = max(0.0, min(next_probe, deadline) - now)
                for probe in await self._wait_first(wait, (self._output_seen, self._stop_event), probes):
                    probes.discard(probe)
                    if not probe.cancelled() and probe.exception() is None and probe.result():
                        return True, ""
        finally:
            for probe in probes:
                probe.cancel()
            await asyncio.gather(*probes, return_exceptions=True)
