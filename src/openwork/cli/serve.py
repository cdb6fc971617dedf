"""``openwork serve`` and ``openwork start``: run the server in this process."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

import click

from openwork.cli.clickflags import with_flags
from openwork.cli.early import begin, in_foreground, take
from openwork.cli.flags import DAEMON_RUN_COMMAND_FLAGS, SERVE_COMMAND_FLAGS, START_COMMAND_FLAGS

__all__ = ["daemon_run_cmd", "run_server", "serve_cmd", "start_cmd"]


def run_server(values: Mapping[str, Any]) -> int:
    """Run the server in this process with a serve-like command's flag values; the exit code."""
    begun = take(values) or begin(values)  # opencode may be booting already (see openwork.cli.early)
    try:
        import asyncio

        from openwork.lifecycle.server import ServeOptions, serve

        opts = ServeOptions(
            json_output=bool(values["json_output"]),
            check=bool(values["check"]),
            check_events=bool(values["check_events"]),
        )
        return asyncio.run(serve(begun.config, begun.logging(), begun.launch, opts))
    finally:
        begun.launch.close()


def _finish(code: int) -> NoReturn:
    """Exit without the interpreter's teardown. By now every child is stopped, the database closed and
    the data-dir lock released; unloading a few hundred modules only held `daemon stop` and Ctrl+C
    ~150 ms longer."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


@click.command("serve")
@with_flags(SERVE_COMMAND_FLAGS)
def serve_cmd(**kwargs: Any) -> None:
    """Run the OpenWork server and supervise opencode in this process (no dashboard).

    Prints the connect info once opencode is healthy; logs go to stderr. Ctrl+C stops everything in
    order (exit 130); a second Ctrl+C forces. SIGTERM exits 143.
    """
    _finish(run_server(kwargs))


@click.command("start")
@with_flags(START_COMMAND_FLAGS)
@click.pass_context
def start_cmd(ctx: click.Context, /, no_tui: bool, detach: bool, timeout: float, **kwargs: Any) -> None:
    """Start a workspace: the server, opencode, and (in a terminal) the dashboard.

    In a terminal the stack runs in the background and the dashboard shows it: `d` detaches (the stack
    keeps running), `q` or Ctrl+C stops it. Without a terminal on stdout, or with --no-tui, this is
    `openwork serve` in the foreground. --check always runs in the foreground.
    """
    if not in_foreground(no_tui=no_tui, detach=detach, check=kwargs["check"] or kwargs["check_events"]):
        from openwork.cli.dashboard import start_in_background

        sys.exit(start_in_background(ctx.command, kwargs, detach=detach, timeout=timeout))
    _finish(run_server(kwargs))


_FOREGROUND_ONLY = {"json_output", "check", "check_events", "no_tui", "detach", "timeout", "port", "data_dir"}


def daemon_argv(command: click.Command, values: dict[str, Any]) -> list[str]:
    """The flags that reproduce ``values`` for ``openwork daemon run`` (defaults and foreground-only
    options left out). Secrets never travel this way: they are in the environment the daemon inherits."""
    argv: list[str] = []
    for param in command.params:
        if not isinstance(param, click.Option) or param.name is None or param.name in _FOREGROUND_ONLY:
            continue
        value: Any = values.get(param.name)
        if param.name == "workspace" and value is not None:
            value = Path(value).expanduser().resolve()  # "." means the folder `start` ran in, always passed
        elif value is None or value == param.default or value == ():
            continue
        if param.multiple:
            argv += [arg for item in value for arg in (max(param.opts, key=len), str(item))]
            continue
        if param.is_flag and param.secondary_opts:  # --x/--no-x: say which one
            argv.append(param.opts[0] if value else param.secondary_opts[0])
            continue
        if param.is_flag and not value:
            continue
        flag = max(param.opts, key=len)
        argv += [flag] if param.is_flag else [flag, str(value)]
    return argv


@click.command("run")
@with_flags(DAEMON_RUN_COMMAND_FLAGS)
def daemon_run_cmd(**kwargs: Any) -> None:
    """Run the daemon in the foreground (what `openwork daemon start` launches in the background)."""
    _finish(run_server(kwargs))
