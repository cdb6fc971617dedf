"""One supervised service: start gated on health, restart with backoff, give up, stop in order."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable

from openwork.constants import DEFAULT_HEALTH_POLL_INTERVAL
from openwork.errors import StartTimeout, SupervisorError
from openwork.logging import get_logger
from openwork.supervisor.clock import Clock, wait_first
from openwork.supervisor.driver import ServiceDriver
from openwork.supervisor.liveness import await_healthy, watch
from openwork.supervisor.policy import FailureWindow, Liveness, RestartPolicy, RestartWindow, spent_budget
from openwork.supervisor.process import ProcessHandle, Spawner
from openwork.supervisor.state import (
    ExitInfo,
    IllegalTransition,
    RestartOutcome,
    ServiceState,
    ServiceStatus,
    exit_text,
    give_up_error,
    is_legal,
    lost_port_race,
    restart_outcome,
)

__all__ = ["RestartOutcome", "Service", "ServiceDriver"]

log = get_logger("openwork.supervisor")

_LAST_LINES = 20  # output lines kept with an exit record
_LAST_LINE_CHARS = 2048  # of each such line


_S = ServiceState
HUNG_REASON = "hung"  # ``last_exit.reason`` of a child the liveness probe declared hung


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
        liveness: Liveness | None = None,
        window: RestartWindow | None = None,
        strict: bool = False,
    ) -> None:
        """``liveness``: probe the running child (None: off). ``window``: the windowed restart budget.
        ``strict``: an illegal state transition raises (tests) instead of being logged (production)."""
        self.name = name
        self._driver = driver
        self._spawner = spawner
        self._clock = clock
        self._policy = policy
        self._required = required
        self._fail_fast = fail_fast  # the very first start failing is an error, not a restart loop
        self._poll = poll_interval
        self._on_change = on_change
        self.spawned = asyncio.Event()  # set once a first process exists (the server overlaps work with its boot)
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
        self._liveness = liveness
        self._window = FailureWindow(window or RestartWindow())
        self._strict = strict
        self._restart_now = asyncio.Event()  # cuts a backoff short
        self._changed = asyncio.Event()  # set, then replaced, on every transition (wait_running)
        self._hard_failures = 0  # failed attempts ever, a lost port race excepted (wait_running)

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
            window_failures=self._window.count(self._clock.now()),
            started_at=self._started_at,
            next_restart_in=next_in,
            last_exit=self._last_exit,
            details=self._driver.details(),
        )

    def _set(self, state: ServiceState, *, force: bool = False, **fields: object) -> None:
        """The only way the state changes: checked against ``TRANSITIONS``, one event per change."""
        previous = self._state
        if not force and not is_legal(previous, state):
            if self._strict:
                raise IllegalTransition(f"{self.name}: {previous.value} -> {state.value}")
            log.error("service.illegal_transition", service=self.name, previous=previous.value, state=state.value)
        self._state = state
        log.info("service.state", service=self.name, previous=previous.value, state=state.value, **fields)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        if self._on_change is not None:
            self._on_change(self.status())

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start supervising; wait for the first healthy run. Safe to call twice."""
        if self._task is None:
            self._stop_event.clear()
            self._first_outcome = asyncio.get_running_loop().create_future()
            self._task = asyncio.create_task(self._run(ever_healthy=False), name=f"supervise:{self.name}")
        assert self._first_outcome is not None
        await asyncio.shield(self._first_outcome)

    async def stop(self, *, force: bool = False) -> None:
        """Stop the child (SIGTERM, then SIGKILL at the deadline; at once with ``force``). Idempotent."""
        self._stop_event.set()
        if self._task is None:
            if self._state is not ServiceState.STOPPED:
                self._set(ServiceState.STOPPED)
            return
        if self._state not in (_S.STOPPED, _S.ERRORED, _S.STOPPING):
            self._set(_S.STOPPING)
        handle = self._handle
        if handle is not None:
            if force:
                handle.resume()  # a stopped child cannot act on anything but SIGKILL; wake it anyway
            await handle.terminate(self._policy.stop_timeout, force=force)
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        if self._state is _S.STOPPING:
            self._set(_S.STOPPED)

    async def restart(self) -> RestartOutcome:
        """Ask for a fresh run now (the dashboard's `r`, an upgrade). Never ignored: see ``RestartOutcome``."""
        state = self._state
        outcome = restart_outcome(state, stopping=self._stop_event.is_set(), supervised=self._task is not None)
        if outcome is RestartOutcome.CUT_BACKOFF:
            self._restart_now.set()  # read by the backoff that follows or is under way
        elif outcome is RestartOutcome.REVIVED:
            self._revive()
        log.info("service.restart_requested", service=self.name, state=state.value, outcome=outcome.value)
        if outcome is RestartOutcome.RESTARTING and self._handle is not None:
            self._expected_restart = True
            await self._handle.terminate(self._policy.stop_timeout)
        return outcome

    def _revive(self) -> None:
        self._failures = 0
        self._window.clear()
        self.failure = None
        self.gave_up.clear()
        self._task = asyncio.create_task(self._run(ever_healthy=True), name=f"supervise:{self.name}")

    @property
    def hard_failures(self) -> int:
        """Failed attempts so far, lost port races excepted (a mark for ``wait_running``)."""
        return self._hard_failures

    async def wait_running(
        self,
        *,
        after_pid: int | None = None,
        timeout: float,
        max_failures: int | None = None,
        failures_before: int | None = None,
    ) -> ServiceStatus:
        """Wait until a process other than ``after_pid`` is running (healthy); return its status. Raises
        ``SupervisorError`` when the service gives up or is stopped, or when more than ``max_failures`` (None:
        the policy decides) attempts fail other than by a lost port race since ``failures_before`` (a
        ``hard_failures`` read before the restart; default: now); ``StartTimeout`` after ``timeout``."""
        deadline = self._clock.now() + timeout
        hard_before = self._hard_failures if failures_before is None else failures_before
        while True:
            changed = self._changed
            status = self.status()
            if status.state is _S.RUNNING and status.pid is not None and status.pid != after_pid:
                return status
            if max_failures is not None and self._hard_failures - hard_before > max_failures:
                raise SupervisorError(f"{self.name} did not come up: {exit_text(status.last_exit)}")
            if status.state is _S.ERRORED:
                raise self.failure or SupervisorError(f"{self.name} gave up")
            if status.state in (_S.STOPPING, _S.STOPPED):
                raise SupervisorError(f"{self.name} was stopped")
            remaining = deadline - self._clock.now()
            if remaining <= 0:
                raise StartTimeout(f"{self.name} was not healthy within {timeout:g}s")
            await wait_first(self._clock, remaining, (changed,), set())

    def _resolve_first(self, error: SupervisorError | None) -> None:
        fut = self._first_outcome
        if fut is not None and not fut.done():
            if error is None:
                fut.set_result(None)
            else:
                fut.set_exception(error)

    # -- the loop -------------------------------------------------------------------------------
    async def _run(self, *, ever_healthy: bool) -> None:
        try:
            await self._loop(ever_healthy)
        except Exception as exc:  # a bug here must surface, not hang the stack
            log.error("service.supervisor_crashed", service=self.name, error=repr(exc))
            self.failure = SupervisorError(f"supervisor of {self.name} failed: {exc}")
            self._set(_S.ERRORED, force=True)  # whatever the state: the verdict must be visible
            self.gave_up.set()
            self._resolve_first(self.failure)
            if isinstance(exc, IllegalTransition):
                raise  # strict (tests): the awaiting stop() sees the bug

    async def _loop(self, ever_healthy: bool) -> None:
        while not self._stop_event.is_set():
            self._restart_now.clear()  # this attempt answers every restart asked for so far
            self._set(_S.STARTING)
            exit_info, was_healthy = await self._attempt()
            ever_healthy = ever_healthy or was_healthy
            if self._stop_event.is_set():
                break
            if self._expected_restart:
                self._expected_restart = False
                self._restarts += 1
                continue
            retryable = lost_port_race(exit_info)
            self._failures += 1
            self._hard_failures += 0 if retryable else 1
            in_window = self._window.record(self._clock.now())
            self._last_exit = exit_info
            self._set(_S.CRASHED, code=exit_info.code, reason=exit_info.reason)
            limit = spent_budget(self._policy, self._window.window, failures=self._failures, in_window=in_window)
            if limit is not None or (self._fail_fast and not ever_healthy and not retryable):
                self._give_up(exit_info, limit)
                return
            delay = self._policy.delay_for(self._failures)
            self._next_restart_at = self._clock.now() + delay
            self._set(_S.RESTART_SCHEDULED, delay_s=delay, failures=self._failures, window_failures=in_window)
            # A restart() asked for meanwhile cuts the backoff short (and, already asked, skips it).
            if not self._restart_now.is_set():
                await wait_first(self._clock, delay, (self._stop_event, self._restart_now), set())
            if self._stop_event.is_set():
                break
            self._restarts += 1
        self._resolve_first(SupervisorError(f"{self.name} was stopped before it became healthy"))

    def _give_up(self, exit_info: ExitInfo, limit: str | None) -> None:
        self.failure = give_up_error(self.name, exit_info, limit)
        self._set(_S.ERRORED, reason=exit_info.reason, limit=limit)
        self.gave_up.set()
        self._resolve_first(self.failure)

    def _line(self, line: str, stream: str) -> None:
        self._recent.append(self._redact(line[:_LAST_LINE_CHARS]))
        self._output_seen.set()
        if self._on_line is not None:
            self._on_line(self.name, line, stream)

    async def _attempt(self) -> tuple[ExitInfo, bool]:
        """One run: spawn, wait healthy, wait for the exit. Returns how it ended."""
        self._recent.clear()  # an exit record, and its retryable verdict, are about this attempt only
        try:
            spec = await self._driver.prepare()
            handle = await self._spawner.spawn(spec, self._line)
        except SupervisorError as exc:
            return ExitInfo(code=None, reason=exc.message, at=self._clock.wall()), False
        self._handle = handle
        self.spawned.set()
        try:
            healthy, reason = await await_healthy(
                handle=handle,
                probe=self._driver.healthy,
                clock=self._clock,
                poll=self._poll,
                start_timeout=self._policy.start_timeout,
                stop=self._stop_event,
                output_seen=self._output_seen,
            )
            if not healthy:
                rc = await handle.terminate(self._policy.stop_timeout)
                return self._exit(rc if handle.returncode is not None else None, reason), False
            if self._stop_event.is_set():  # stop() came with the healthy answer: never RUNNING after STOPPING
                rc = await handle.terminate(self._policy.stop_timeout)
                return self._exit(rc, "stopped while starting"), False
            self._started_at = self._clock.wall()
            healthy_since = self._clock.now()
            self._set(_S.RUNNING, pid=handle.pid)
            self._resolve_first(None)
            code = await watch(
                name=self.name, handle=handle, probe=self._driver.healthy, liveness=self._liveness, clock=self._clock
            )
            if self._clock.now() - healthy_since >= self._policy.reset_after:
                self._failures = 0  # a long healthy run forgives earlier failures
            if code is None:
                return await self._kill_hung(handle), True
            # The leader is gone; its group may not be. Clean it up before any restart.
            await handle.terminate(self._policy.stop_timeout)
            return self._exit(code, f"exited with code {code}" if code >= 0 else "killed by a signal"), True
        except asyncio.CancelledError:
            await handle.terminate(self._policy.stop_timeout, force=True)
            raise
        finally:
            await self._after_exit()

    async def _kill_hung(self, handle: ProcessHandle) -> ExitInfo:
        """SIGCONT, then SIGKILL without grace: SIGTERM would wait in a stopped process's queue."""
        if not self._stop_event.is_set():  # stopping already: stop() is killing it
            self._set(_S.HUNG, pid=handle.pid)
        log.warning("service.hung", service=self.name, pid=handle.pid)
        handle.resume()
        rc = await handle.terminate(self._policy.stop_timeout, force=True)
        return self._exit(rc, HUNG_REASON)

    async def _after_exit(self) -> None:  # what outlives the process (a sandbox's container)
        try:
            await asyncio.shield(self._driver.after_exit())
        except Exception as exc:  # a failed clean-up must not stop supervision; it is reported
            log.warning("service.after_exit_failed", service=self.name, error=str(exc))

    def _exit(self, rc: int | None, reason: str) -> ExitInfo:
        return ExitInfo(code=rc, reason=reason, at=self._clock.wall(), last_lines=tuple(self._recent))
