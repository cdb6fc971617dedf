"""The states a supervised service goes through, the only transitions between them, and the snapshot
the API and the TUI read."""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING

from openwork.errors import GaveUp, StartTimeout, SupervisorError

if TYPE_CHECKING:
    from openwork.supervisor.statusinfo import LastExitInfo, ServiceStatusInfo

__all__ = [
    "TRANSITIONS",
    "ExitInfo",
    "IllegalTransition",
    "RestartOutcome",
    "ServiceState",
    "ServiceStatus",
    "V2Status",
    "exit_text",
    "give_up_error",
    "is_legal",
    "lost_port_race",
    "restart_outcome",
    "v2_status",
]


class ServiceState(StrEnum):
    PENDING = "pending"
    STARTING = "starting"
    RUNNING = "running"
    HUNG = "hung"  # the liveness probe stopped answering; the child is being killed
    CRASHED = "crashed"
    RESTART_SCHEDULED = "restart_scheduled"
    STOPPING = "stopping"
    STOPPED = "stopped"
    ERRORED = "errored"


class V2Status(StrEnum):
    """The Server V2 status enum that clients read; the dashboard shows the internal state instead."""

    STARTING = "starting"
    RUNNING = "running"
    CRASHED = "crashed"
    RESTART_SCHEDULED = "restart_scheduled"
    STOPPED = "stopped"
    DISABLED = "disabled"  # a service that is not part of this stack (the router when not enabled)
    ERROR = "error"


class RestartOutcome(StrEnum):
    """The answer to ``restart()``: a request is never silently dropped."""

    RESTARTING = "restarting"  # running: terminated, a fresh run follows (no failure counted)
    CUT_BACKOFF = "cut_backoff"  # crashed / hung / waiting to restart: the next attempt starts now
    ALREADY_STARTING = "already_starting"  # an attempt is under way; its process is the fresh run
    REVIVED = "revived"  # had given up: failure counts cleared, supervision starts again
    STOPPED = "stopped"  # stop() was asked for: stop wins, nothing restarts
    NOT_STARTED = "not_started"  # never started: start() it


_S = ServiceState
# Every state change goes through this table (as supervisord's ``_assertInState``). A change not listed
# is a bug: it raises when the service is strict (tests) and is logged, then applied, in production.
TRANSITIONS: MappingProxyType[ServiceState, frozenset[ServiceState]] = MappingProxyType(
    {
        _S.PENDING: frozenset({_S.STARTING, _S.STOPPED}),
        _S.STARTING: frozenset({_S.RUNNING, _S.CRASHED, _S.STOPPING, _S.ERRORED}),
        # RUNNING -> STARTING: a requested restart, which is no failure.
        _S.RUNNING: frozenset({_S.STARTING, _S.CRASHED, _S.HUNG, _S.STOPPING, _S.ERRORED}),
        _S.HUNG: frozenset({_S.CRASHED, _S.STOPPING, _S.ERRORED}),
        _S.CRASHED: frozenset({_S.RESTART_SCHEDULED, _S.ERRORED, _S.STOPPING}),
        _S.RESTART_SCHEDULED: frozenset({_S.STARTING, _S.STOPPING, _S.ERRORED}),
        _S.STOPPING: frozenset({_S.STOPPED, _S.ERRORED}),
        _S.STOPPED: frozenset(),  # final: a stopped service is not started again
        _S.ERRORED: frozenset({_S.STARTING}),  # gave up; an explicit restart() revives it
    }
)

_V2 = MappingProxyType(
    {
        _S.PENDING: V2Status.STOPPED,
        _S.STARTING: V2Status.STARTING,
        _S.RUNNING: V2Status.RUNNING,
        _S.HUNG: V2Status.CRASHED,
        _S.CRASHED: V2Status.CRASHED,
        _S.RESTART_SCHEDULED: V2Status.RESTART_SCHEDULED,
        _S.STOPPING: V2Status.STOPPED,
        _S.STOPPED: V2Status.STOPPED,
        _S.ERRORED: V2Status.ERROR,
    }
)


class IllegalTransition(AssertionError):  # a bug, as an assertion is: never caught as an OpenworkError
    """A service was asked to change state along a transition the table does not allow."""


def is_legal(current: ServiceState, new: ServiceState) -> bool:
    return new in TRANSITIONS[current]


def v2_status(state: ServiceState) -> V2Status:
    """The V2 ``status`` of an internal state (pending/stopping -> stopped, errored -> error, hung -> crashed)."""
    return _V2[state]


@dataclass(frozen=True, kw_only=True, slots=True)
class ExitInfo:
    """How one run of a service ended."""

    code: int | None
    reason: str
    at: float
    last_lines: tuple[str, ...] = ()

    @property
    def signal_name(self) -> str | None:
        if self.code is not None and self.code < 0:
            try:
                return signal.Signals(-self.code).name
            except ValueError:
                return f"signal {-self.code}"
        return None

    def model(self) -> LastExitInfo:
        """The exit as it goes on the wire."""
        # Imported here: pydantic stays out of what `openwork serve` loads before opencode is spawned.
        from openwork.supervisor.statusinfo import LastExitInfo, OutputSnapshot
        from openwork.wire import iso

        return LastExitInfo(
            code=self.code,
            signal=self.signal_name,
            reason=self.reason,
            at=iso(self.at),
            last_lines=list(self.last_lines),
            output=OutputSnapshot.of([(self.at, "stdout", line) for line in self.last_lines]),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class ServiceStatus:
    """A point-in-time view of one service."""

    name: str
    state: ServiceState
    required: bool
    pid: int | None = None
    restarts: int = 0
    consecutive_failures: int = 0
    window_failures: int = 0  # failures inside the restart budget's window
    started_at: float | None = None
    next_restart_in: float | None = None
    last_exit: ExitInfo | None = None
    details: dict[str, object] = field(default_factory=dict)

    def model(self) -> ServiceStatusInfo:
        """The snapshot as it goes on the wire; ``details`` become extra top-level keys."""
        from openwork.supervisor.statusinfo import ServiceStatusInfo  # see ExitInfo.model

        return ServiceStatusInfo(
            name=self.name,
            state=self.state,
            status=v2_status(self.state),
            required=self.required,
            pid=self.pid,
            restarts=self.restarts,
            consecutive_failures=self.consecutive_failures,
            window_failures=self.window_failures,
            started_at=self.started_at,
            next_restart_in=self.next_restart_in,
            last_exit=self.last_exit.model() if self.last_exit else None,
            **self.details,
        )

    def to_json(self) -> dict[str, object]:
        """The wire dict; kept for callers outside the API (the stack's ``service.state`` event)."""
        return self.model().wire()


def exit_text(exit_info: ExitInfo | None) -> str:
    """An exit in one line: its reason and the last lines of output."""
    if exit_info is None:
        return "no exit recorded"
    tail = " | ".join(exit_info.last_lines[-3:])
    return exit_info.reason + (f" ({tail})" if tail else "")


# A port taken between our check and the child's bind: retried on a fresh port, not a crash loop.
# opencode 1.18 says only "ServeError" when its port is taken.
# "port is already allocated": docker's word for a published port another container holds (sandbox mode).
_PORT_RACE_MARKERS = (
    "eaddrinuse",
    "address already in use",
    "address in use",
    "serveerror",
    "port is already allocated",
)


def lost_port_race(exit_info: ExitInfo) -> bool:
    """Whether the attempt ended because its port was taken meanwhile (retried, not counted as hard)."""
    return any(m in " ".join(exit_info.last_lines).lower() for m in _PORT_RACE_MARKERS)


def give_up_error(name: str, exit_info: ExitInfo, limit: str | None) -> SupervisorError:
    """The error a service that gives up reports: which budget was spent (or that it never started),
    with its last output."""
    tail = "\n".join(f"  {line}" for line in exit_info.last_lines[-10:])
    last = f"\nlast output:\n{tail}" if tail else ""
    hint = f"`openwork doctor` checks what a start needs; `openwork logs --service {name}` shows all of its output"
    if limit is not None:
        return GaveUp(f"{name} failed {limit}; giving up ({exit_info.reason}){last}", hint=hint)
    return StartTimeout(f"{name} did not start: {exit_info.reason}{last}", hint=hint)


def restart_outcome(state: ServiceState, *, stopping: bool, supervised: bool) -> RestartOutcome:
    """What ``restart()`` does in ``state``: never nothing (see ``RestartOutcome``)."""
    if stopping or state in (ServiceState.STOPPING, ServiceState.STOPPED):
        return RestartOutcome.STOPPED
    if state is ServiceState.PENDING or not supervised:
        return RestartOutcome.NOT_STARTED
    if state is ServiceState.STARTING:
        return RestartOutcome.ALREADY_STARTING
    if state in (ServiceState.CRASHED, ServiceState.HUNG, ServiceState.RESTART_SCHEDULED):
        return RestartOutcome.CUT_BACKOFF
    if state is ServiceState.ERRORED:
        return RestartOutcome.REVIVED
    return RestartOutcome.RESTARTING
