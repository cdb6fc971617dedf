"""A service's status as it goes on the wire (``ServiceStatus.model()``), apart from ``state`` so that
pydantic stays out of what `openwork serve` imports before it spawns opencode."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import ConfigDict

from openwork.supervisor.state import ServiceState, V2Status
from openwork.wire import WireModel, iso

__all__ = ["LastExitInfo", "OutputLine", "OutputSnapshot", "ServiceStatusInfo"]


class OutputLine(WireModel):
    at: str
    stream: Literal["stdout", "stderr"]
    text: str


class OutputSnapshot(WireModel):
    """A service's recent output (redacted), oldest first: the V2 contract's diagnostics."""

    combined: list[OutputLine]
    stderr: list[str]
    stdout: list[str]
    total_lines: int
    truncated: bool

    @classmethod
    def of(cls, lines: Sequence[tuple[float, str, str]], *, truncated: bool = False) -> OutputSnapshot:
        """From ``(time, stream, text)`` lines; a stream other than stderr counts as stdout."""
        combined = [
            OutputLine(at=iso(at), stream="stderr" if s == "stderr" else "stdout", text=t) for at, s, t in lines
        ]
        return cls(
            combined=combined,
            stderr=[line.text for line in combined if line.stream == "stderr"],
            stdout=[line.text for line in combined if line.stream == "stdout"],
            total_lines=len(combined),
            truncated=truncated,
        )


class LastExitInfo(WireModel):
    """How the last run of a service ended: exit code or signal name, why, when (ISO 8601), and its last
    lines (``lastLines``, and as the V2 contract's ``output``: the child's merged output, so all stdout)."""

    code: int | None
    signal: str | None
    reason: str
    at: str
    last_lines: list[str]
    output: OutputSnapshot

    def without_output(self) -> LastExitInfo:
        """The exit without the child's lines: they are its log, which only the host reads."""
        return self.model_copy(update={"last_lines": [], "output": OutputSnapshot.of([])})


class ServiceStatusInfo(WireModel):
    """One supervised service. The service's own details (``port``, ``url``, ``version``, ``binary`` for
    opencode and the router) follow as extra keys."""

    # Extra keys allowed: each driver adds its own details, and the wire keeps them at the top level.
    model_config = ConfigDict(extra="allow")

    name: str
    state: ServiceState  # internal, shown by the dashboard
    status: V2Status  # the V2 enum clients read
    required: bool
    pid: int | None
    restarts: int
    consecutive_failures: int
    window_failures: int
    started_at: float | None
    next_restart_in: float | None
    last_exit: LastExitInfo | None

    def without_output(self) -> ServiceStatusInfo:
        """This status with its last exit's lines left out (for callers other than the host)."""
        if self.last_exit is None:
            return self
        return self.model_copy(update={"last_exit": self.last_exit.without_output()})
