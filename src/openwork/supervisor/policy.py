"""Supervision settings: the restart policy (backoff, give-up, deadlines), the liveness probe and the
windowed budget."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from openwork.constants import (
    DEFAULT_BACKOFF_INITIAL,
    DEFAULT_BACKOFF_MAX,
    DEFAULT_BACKOFF_RESET_AFTER,
    DEFAULT_LIVENESS_FAILURES,
    DEFAULT_LIVENESS_INTERVAL,
    DEFAULT_LIVENESS_TIMEOUT,
    DEFAULT_MAX_FAILURES,
    DEFAULT_RESTART_WINDOW,
    DEFAULT_RESTART_WINDOW_MAX,
    DEFAULT_START_TIMEOUT,
    DEFAULT_STOP_TIMEOUT,
)
from openwork.errors import ConfigError

__all__ = [
    "FailureWindow",
    "Liveness",
    "RestartPolicy",
    "RestartWindow",
    "spent_budget",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class RestartPolicy:
    """How a supervised service is restarted after it fails."""

    initial_delay: float = DEFAULT_BACKOFF_INITIAL
    max_delay: float = DEFAULT_BACKOFF_MAX
    reset_after: float = DEFAULT_BACKOFF_RESET_AFTER
    max_failures: int = DEFAULT_MAX_FAILURES
    start_timeout: float = DEFAULT_START_TIMEOUT
    stop_timeout: float = DEFAULT_STOP_TIMEOUT

    def __post_init__(self) -> None:
        if self.initial_delay < 0 or self.max_delay < self.initial_delay:
            raise ConfigError("restart policy: need 0 <= initial_delay <= max_delay")
        if self.max_failures < 1:
            raise ConfigError("restart policy: max_failures must be at least 1")
        if self.start_timeout <= 0 or self.stop_timeout <= 0:
            raise ConfigError("restart policy: timeouts must be positive")

    def delay_for(self, failures: int) -> float:
        """Delay before the restart that follows the ``failures``-th consecutive failure (1-based)."""
        if failures < 1:
            return 0.0
        # 2**n overflows float for absurd n; the cap is reached long before 64 anyway.
        exponent = min(failures - 1, 64)
        return float(min(self.max_delay, self.initial_delay * (2**exponent)))


@dataclass(frozen=True, kw_only=True, slots=True)
class Liveness:
    """How a running service is probed: every ``interval`` (start to start, never overlapping), hung
    after ``failures`` failed probes in a row or one probe unanswered for ``timeout``."""

    interval: float = DEFAULT_LIVENESS_INTERVAL
    failures: int = DEFAULT_LIVENESS_FAILURES
    timeout: float = DEFAULT_LIVENESS_TIMEOUT

    def __post_init__(self) -> None:
        if self.interval <= 0 or self.timeout <= 0 or self.failures < 1:
            raise ConfigError("liveness: interval and timeout must be positive, failures at least 1")


@dataclass(frozen=True, kw_only=True, slots=True)
class RestartWindow:
    """The restart budget: give up after ``max_failures`` failures within ``seconds``."""

    max_failures: int = DEFAULT_RESTART_WINDOW_MAX
    seconds: float = DEFAULT_RESTART_WINDOW

    def __post_init__(self) -> None:
        if self.max_failures < 1 or self.seconds <= 0:
            raise ConfigError("restart window: need at least 1 failure and a positive window")


class FailureWindow:
    """The failure times inside the window (monotonic seconds)."""

    def __init__(self, window: RestartWindow) -> None:
        self.window = window
        self._times: deque[float] = deque()

    def record(self, now: float) -> int:
        """Count a failure at ``now``; return how many fall inside the window."""
        self._times.append(now)
        return self.count(now)

    def count(self, now: float) -> int:
        while self._times and self._times[0] <= now - self.window.seconds:
            self._times.popleft()
        return len(self._times)

    def exhausted(self, now: float) -> bool:
        return self.count(now) >= self.window.max_failures

    def clear(self) -> None:
        self._times.clear()


def spent_budget(policy: RestartPolicy, window: RestartWindow, *, failures: int, in_window: int) -> str | None:
    """Which restart budget is spent, in words (the give-up message names it), or None."""
    if failures >= policy.max_failures:
        return f"{failures} times in a row (limit {policy.max_failures})"
    if in_window >= window.max_failures:
        return f"{in_window} times within {window.seconds:g}s (limit {window.max_failures})"
    return None
