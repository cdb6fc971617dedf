"""``openwork start`` in a terminal (and ``--detach``): the stack in the background, the dashboard here."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from openwork.cli.client import find_target, request
from openwork.cli.daemonctl import start_daemon, stop_daemon
from openwork.cli.options import data_dir_option, host_token_option, openwork_url_option
from openwork.cli.serveconfig import CORS_ENV
from openwork.constants import DEFAULT_PORT
from openwork.paths import DataDir, default_data_dir

__all__ = ["daemon_argv", "dashboard_cmd", "start_in_background", "summary"]


def _redacted(token: str | None) -> str:
    return (token[:4] + "…(redacted)") if token else "(none)"


def summary(info: dict[str, Any], workspace: str | None, data_dir: Path, host_token: str | None) -> str:
    attach = f"OPENWORK_HOST_TOKEN={_redacted(host_token)} openwork dashboard --openwork-url {info['url']}"
    stop = "openwork daemon stop" + ("" if data_dir == default_data_dir() else f" --data-dir {data_dir}")
    return "\n".join(
        [
            "OpenWork is running in the background",
            f"  OpenWork URL:  {info['url']}",
            f"  workspace:     {workspace or '-'}",
            f"  pid:           {info['pid']}   log: {info['logFile']}",
            f"  attach:        {attach}",
            f"  stop:          {stop}",
        ]
    )


# Not passed as flags: what only the foreground run uses, and --cors (the daemon's --cors means opencode's
# CORS, as in the original; ours reaches the daemon through OPENWORK_CORS_ORIGINS, see start_in_background).
_FOREGROUND_ONLY = {"json_output", "check", "check_events", "no_tui", "detach", "timeout", "port", "data_dir", "cors"}


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


def start_in_background(ctx: click.Context, values: dict[str, Any], *, detach: bool, timeout: float) -> int:
    data_dir = DataDir.at(values["data_dir"]).root
    workspace = values.get("workspace")
    folder = str(Path(workspace).expanduser().resolve()) if workspace else None
    click.echo(f"starting OpenWork (log: {data_dir / 'logs' / 'daemon.log'})...", err=True)
    port = values["port"] if values["port"] is not None else DEFAULT_PORT
    cors = {CORS_ENV: values["cors"]} if values.get("cors") else None
    info = start_daemon(
        data_dir,
        port=port,
        extra_args=daemon_argv(ctx.command, values),
        timeout=timeout,
        extra_env=cors,
        quiet=bool(values.get("json_output")),
    )
    target = find_target(url=None, token=None, data_dir=data_dir)
    if info["reused"] and folder:
        # An already-running stack: make this folder a registered, active workspace there too.
        added = request(target, "POST", "/workspaces/local", json_body={"folderPath": folder})
        request(target, "POST", f"/workspaces/{added['workspace']['id']}/activate", timeout=30.0)
    if detach:
        if values.get("json_output"):
            click.echo(json.dumps({**info, "workspace": folder}))
        else:
            click.echo(summary(info, folder, data_dir, target.host_token))
        return 0
    outcome = _run_dashboard(info["url"], target.host_token or "", target.token or "")
    if outcome == "detach":
        click.echo(summary(info, folder, data_dir, target.host_token))
        return 0
    stop_daemon(data_dir)  # the dashboard asked the server to stop; make sure nothing is left
    click.echo("OpenWork stopped")
    return 0


def _run_dashboard(url: str, host_token: str, client_token: str) -> str:
    from openwork.tui.app import Dashboard
    from openwork.tui.source import ApiSource

    outcome = Dashboard(ApiSource(url, host_token), token=client_token).run()
    return outcome or "quit"


@click.command("dashboard")
@openwork_url_option
@host_token_option
@data_dir_option
def dashboard_cmd(openwork_url: str | None, host_token: str | None, data_dir: Path | None) -> None:
    """Open the dashboard on a running server (`d` leaves it running, `q` stops it)."""
    target = find_target(url=openwork_url, token=None, host_token=host_token, data_dir=data_dir)
    request(target, "GET", "/system/health")
    outcome = _run_dashboard(target.url, target.host_token or "", target.token or "")
    click.echo("detached" if outcome == "detach" else "OpenWork stopped")
    sys.exit(0)
