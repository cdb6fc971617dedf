"""Start opencode before click loads: a guess at the command line, confirmed or undone once click parsed it.

opencode's boot (~1 s) is what ``openwork serve`` users wait for, so it should start as early as the
process can. Importing click and building the command's ~35 options costs ~20 ms before that. So the
entry point (``openwork.cli.main``) first reads a ``serve`` / ``start`` / ``daemon run`` command line with
``openwork.cli.fastparse`` and, when it is sure, calls :func:`begin` at once. click then parses as
always; ``run_server`` asks :func:`take` for the launch, which hands it over only if click's values are
exactly the guessed ones, and otherwise undoes it (kills opencode, releases the port and the lock) so
the run starts afresh. An early failure is raised there too, once click has confirmed the command line
(so a usage error is still reported as one, and nothing is tried twice).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from openwork.cli.flags import DAEMON_RUN_COMMAND_FLAGS, SERVE_COMMAND_FLAGS, START_COMMAND_FLAGS
from openwork.config import ServerConfig
from openwork.errors import OpenworkError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from openwork.lifecycle.launch import Launch
    from openwork.logging import LogHub

__all__ = ["Begun", "LoggingSetup", "begin", "discard", "in_foreground", "speculate", "take"]


class LoggingSetup:
    """Sets logging up once, when first needed (see ``openwork.lifecycle.launch.LaunchLog``)."""

    def __init__(self, config: ServerConfig, *, verbose: bool) -> None:
        self._config = config
        self._verbose = verbose
        self._hub: LogHub | None = None

    def __call__(self) -> LogHub:
        if self._hub is None:
            from openwork.logging import configure_logging

            self._hub = configure_logging(
                fmt=self._config.log_format, run_id=self._config.run_id, verbose=self._verbose
            )
        return self._hub


@dataclass(frozen=True, kw_only=True, slots=True)
class Begun:
    """A run's settings and what ``openwork.lifecycle.launch.prepare`` acquired for it (opencode perhaps started)."""

    values: Mapping[str, Any]
    config: ServerConfig
    launch: Launch
    logging: LoggingSetup


def begin(values: Mapping[str, Any]) -> Begun:
    """Validate ``values`` (a serve-like command's flags) and acquire the run: lock, port, opencode."""
    from openwork.cli.serveconfig import server_config
    from openwork.lifecycle.gcpolicy import relax_for_start_up
    from openwork.lifecycle.launch import prepare

    config = server_config(values)
    relax_for_start_up()  # until the server is ready (see gcpolicy)
    logging = LoggingSetup(config, verbose=bool(values["verbose"]))
    launch = prepare(config, logging_ready=logging)
    return Begun(values=dict(values), config=config, launch=launch, logging=logging)


@dataclass(frozen=True, slots=True)
class _Failed:
    """An early launch that failed: reported as is if click confirms the guess (not tried twice: a
    failing download would make the user wait through its timeouts again)."""

    values: Mapping[str, Any]
    error: OpenworkError | OSError


_pending: Begun | _Failed | None = None


def speculate(argv: Sequence[str], environ: Mapping[str, str]) -> None:
    """If ``argv`` (without the program name) surely runs the server in this process, begin now."""
    global _pending
    values = _guess(argv, environ)
    if values is None:
        return
    try:
        _pending = begin(values)
    except (OpenworkError, OSError) as exc:
        _pending = _Failed(values, exc)  # reported once click has parsed the command line


def take(values: Mapping[str, Any]) -> Begun | None:
    """The early launch, if it was begun with exactly ``values`` (its error, if it failed); otherwise it
    is undone and ``None`` returned."""
    global _pending
    pending, _pending = _pending, None
    if pending is None:
        return None
    if dict(values) == pending.values:
        if isinstance(pending, _Failed):
            raise pending.error
        return pending
    if isinstance(pending, Begun):
        pending.launch.close()
    return None


def discard() -> None:
    """Undo an early launch nobody took (click refused the command line, or ran something else)."""
    global _pending
    pending, _pending = _pending, None
    if isinstance(pending, Begun):
        pending.launch.close()


def _guess(argv: Sequence[str], environ: Mapping[str, str]) -> dict[str, object] | None:
    from openwork.cli.fastparse import parse

    if argv[:1] == ["serve"]:
        return parse(argv[1:], SERVE_COMMAND_FLAGS, environ)
    if argv[:2] == ["daemon", "run"]:
        return parse(argv[2:], DAEMON_RUN_COMMAND_FLAGS, environ)
    if argv[:1] != ["start"]:
        return None
    values = parse(argv[1:], START_COMMAND_FLAGS, environ)
    if values is None:
        return None
    no_tui, detach = bool(values.pop("no_tui")), bool(values.pop("detach"))
    values.pop("timeout")
    check = bool(values["check"] or values["check_events"])
    return values if in_foreground(no_tui=no_tui, detach=detach, check=check) else None


def in_foreground(*, no_tui: bool, detach: bool, check: bool) -> bool:
    """Whether ``start`` runs the server in this process: not with --detach, nor in a terminal (where the
    stack goes to the background behind the dashboard) unless --no-tui; --check always does."""
    interactive = sys.stdout.isatty() and sys.stdin.isatty() and not no_tui
    return check or not (detach or interactive)
