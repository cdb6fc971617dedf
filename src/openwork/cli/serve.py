"""``openwork serve``, ``openwork start`` and ``openwork daemon run``: run the server in this process."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from typing import Any

import click

from openwork.cli.serveoptions import cors_option, daemon_run_options, server_options, start_options, workspace_option

__all__ = ["daemon_run_cmd", "run_server", "serve_cmd", "start_cmd"]


def run_server(values: Mapping[str, Any]) -> int:
    """Run the server in this process with a serve-like command's option values; the exit code.

    The order that fails fastest: validate the settings, set logging up, then lock, bind and resolve
    (``prepare``); the stack spawns opencode from the running loop and the HTTP half is built while it boots.
    """
    from openwork.cli.serveconfig import server_config
    from openwork.lifecycle.gcpolicy import relax_for_start_up
    from openwork.lifecycle.launch import prepare
    from openwork.lifecycle.server import ServeOptions, serve
    from openwork.logging import configure_logging
    from openwork.logging.file import LogFileSettings

    config = server_config(values)
    relax_for_start_up()  # until the server is ready (see gcpolicy)
    hub = configure_logging(
        fmt=config.log_format,
        run_id=config.run_id,
        verbose=bool(values["verbose"]),
        log_file=LogFileSettings(path=config.dirs.log_file, max_bytes=config.log_max_bytes, backups=config.log_backups),
        console_level=config.log_console_level,
    )
    if values.get("login_in_argv"):
        from openwork.logging import get_logger

        get_logger("openwork.server").warning(
            "opencode.login_in_argv",
            hint="every local user can read a command line: pass OPENWORK_OPENCODE_USERNAME/PASSWORD by env",
        )
    if values["data_dir"] is None:  # the default: openwork-py's old one moves there once
        from openwork.lifecycle.datamove import migrate_old_default

        migrate_old_default(config.data_dir)
    launch = prepare(config)
    try:
        opts = ServeOptions(
            json_output=bool(values["json_output"]),
            check=bool(values["check"]),
            check_events=bool(values["check_events"]),
        )
        return asyncio.run(serve(config, hub, launch, opts))
    finally:
        launch.close()
        hub.close()


def in_foreground(*, no_tui: bool, detach: bool, check: bool) -> bool:
    """Whether ``start`` runs the server in this process: not with --detach, nor in a terminal (where the
    stack goes to the background behind the dashboard) unless --no-tui; --check always does."""
    interactive = sys.stdout.isatty() and sys.stdin.isatty() and not no_tui
    return check or not (detach or interactive)


@click.command("serve")
@workspace_option(default=".")
@server_options
@cors_option
def serve_cmd(**values: Any) -> None:
    """Run the OpenWork server and supervise opencode in this process (no dashboard).

    Prints the connect info once opencode is healthy; logs go to stderr. Ctrl+C stops everything in
    order (exit 130); a second Ctrl+C forces. SIGTERM exits 143.
    """
    sys.exit(run_server(values))


@click.command("start")
@workspace_option(default=".")
@server_options
@cors_option
@start_options
@click.pass_context
def start_cmd(ctx: click.Context, /, no_tui: bool, detach: bool, timeout: float, **values: Any) -> None:
    """Start a workspace: the server, opencode, and (in a terminal) the dashboard.

    In a terminal the stack runs in the background and the dashboard shows it: `d` detaches (the stack
    keeps running), `q` or Ctrl+C stops it. Without a terminal on stdout, or with --no-tui, this is
    `openwork serve` in the foreground. --check always runs in the foreground.
    """
    if not in_foreground(no_tui=no_tui, detach=detach, check=values["check"] or values["check_events"]):
        from openwork.cli.dashboard import start_in_background

        sys.exit(start_in_background(ctx, values, detach=detach, timeout=timeout))
    sys.exit(run_server(values))


@click.command("run")
@workspace_option(default=None)
@daemon_run_options
@click.pass_context
def daemon_run_cmd(ctx: click.Context, /, **values: Any) -> None:
    """Run the daemon in the foreground (what `openwork daemon start` and the desktop app launch).

    Takes the desktop app's command line: --opencode-port given is kept across restarts (the launcher
    talks to opencode there), --opencode-username/--opencode-password (or their env) set opencode's login
    when OPENWORK_INTERNAL_ALLOW_OPENCODE_CREDENTIALS=1, --cors is opencode's own CORS.
    """
    given = (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT)
    values["opencode_port_fixed"] = bool(values["opencode_port"]) and ctx.get_parameter_source("opencode_port") in given
    values["login_in_argv"] = values["opencode_password"] is not None
    sys.exit(run_server(values))
