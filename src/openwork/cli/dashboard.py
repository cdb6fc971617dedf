"""``openwork start`` in a terminal (and ``--detach``): the stack in the background, the dashboard here."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from openwork.cli.client import find_target, request
from openwork.cli.daemonctl import start_daemon, stop_daemon
from openwork.constants import DEFAULT_PORT
from openwork.paths import default_data_dir

__all__ = ["dashboard_cmd", "start_in_background", "summary"]


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


def start_in_background(command: click.Command, values: dict[str, Any], *, detach: bool, timeout: float) -> int:
    from openwork.cli.serve import daemon_argv

    data_dir = (values["data_dir"].expanduser() if values["data_dir"] else default_data_dir()).absolute()
    workspace = values.get("workspace")
    folder = str(Path(workspace).expanduser().resolve()) if workspace else None
    click.echo(f"starting OpenWork (log: {data_dir / 'logs' / 'daemon.log'})...", err=True)
    port = values["port"] if values["port"] is not None else DEFAULT_PORT
    info = start_daemon(data_dir, port=port, extra_args=daemon_argv(command, values), timeout=timeout)
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
@click.option("--openwork-url", envvar="OPENWORK_URL", help="Server URL (default: the local server).")
@click.option("--host-token", envvar="OPENWORK_HOST_TOKEN", help="Host token (prefer the env var).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="OPENWORK_DATA_DIR")
def dashboard_cmd(openwork_url: str | None, host_token: str | None, data_dir: Path | None) -> None:
    """Open the dashboard on a running server (`d` leaves it running, `q` stops it)."""
    target = find_target(url=openwork_url, token=None, host_token=host_token, data_dir=data_dir)
    request(target, "GET", "/system/health")
    outcome = _run_dashboard(target.url, target.host_token or "", target.token or "")
    click.echo("detached" if outcome == "detach" else "OpenWork stopped")
    sys.exit(0)
