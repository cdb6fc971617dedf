"""``openwork workspace ...`` and ``openwork instance dispose``: thin clients of the server.

Against the local data dir they start the daemon when no server is running, as the original did.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from openwork.cli.client import ServerTarget, Unreachable, connection_options, find_target, request
from openwork.cli.output import emit
from openwork.constants import DEFAULT_PORT
from openwork.errors import ConfigError, NotFoundError

__all__ = ["instance_group", "workspace_group"]


def _target(openwork_url: str | None, token: str | None, host_token: str | None, data_dir: Path | None) -> ServerTarget:
    return find_target(url=openwork_url, token=token, host_token=host_token, data_dir=data_dir)


def _call(target: ServerTarget, method: str, path: str, **kwargs: Any) -> Any:
    try:
        return request(target, method, path, **kwargs)
    except Unreachable:
        if target.explicit:
            raise
    from openwork.cli.daemonctl import start_daemon

    click.echo("openwork: no server running; starting the daemon", err=True)
    start_daemon(target.data_dir, port=_daemon_port(os.environ.get("OPENWORK_PORT")))
    fresh = find_target(url=None, token=target.token, host_token=target.host_token, data_dir=target.data_dir)
    return request(fresh, method, path, **kwargs)


def _daemon_port(raw: str | None) -> int:
    """``OPENWORK_PORT`` as ``openwork daemon start --port`` reads it (this command has no --port)."""
    if not raw:
        return DEFAULT_PORT
    if not raw.isdigit() or int(raw) > 65535:
        raise ConfigError(f"OPENWORK_PORT={raw!r} is not a port", hint="use a number between 0 and 65535")
    return int(raw)


def _describe(ws: dict[str, Any]) -> str:
    mark = "*" if ws.get("active") else " "
    return f"{mark} {ws['id']}  {ws['name']}  {ws['path']}"


@click.group("workspace")
def workspace_group() -> None:
    """Registered workspace folders (one opencode serves them all, by directory)."""


@workspace_group.command("add")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", help="Display name (default: the folder name).")
@connection_options
def add_cmd(path: Path, name: str | None, json_output: bool, **conn: Any) -> None:
    """Register PATH (an existing folder). Adding it again prints the existing record."""
    body = {"folderPath": str(path.expanduser().absolute()), **({"name": name} if name else {})}
    data = _call(_target(**conn), "POST", "/workspaces/local", json_body=body)
    ws = data["workspace"]
    emit(data, as_json=json_output, text=f"{'added' if data['created'] else 'already registered'}: {_describe(ws)}")


@workspace_group.command("list")
@connection_options
def list_cmd(json_output: bool, **conn: Any) -> None:
    """List workspaces; the active one is marked with *."""
    data = _call(_target(**conn), "GET", "/workspaces")
    text = "\n".join(_describe(ws) for ws in data["items"]) or "no workspaces yet: openwork workspace add PATH"
    emit(data, as_json=json_output, text=text)


@workspace_group.command("switch")
@click.argument("workspace_id")
@connection_options
def switch_cmd(workspace_id: str, json_output: bool, **conn: Any) -> None:
    """Make WORKSPACE_ID the active workspace (and warm opencode for it)."""
    data = _call(_target(**conn), "POST", f"/workspaces/{_seg(workspace_id)}/activate")
    emit(data, as_json=json_output, text=f"active: {_describe(data['workspace'])}")


@workspace_group.command("info")
@click.argument("workspace_id")
@connection_options
def info_cmd(workspace_id: str, json_output: bool, **conn: Any) -> None:
    """Show one workspace."""
    data = _call(_target(**conn), "GET", f"/workspaces/{_seg(workspace_id)}")
    emit(data, as_json=json_output, text=_describe(data["workspace"]))


@workspace_group.command("path")
@click.argument("workspace_id")
@connection_options
def path_cmd(workspace_id: str, json_output: bool, **conn: Any) -> None:
    """Print the workspace's folder."""
    data = _call(_target(**conn), "GET", f"/workspaces/{_seg(workspace_id)}/path")
    emit(data, as_json=json_output, text=data["path"])


@workspace_group.command("remove")
@click.argument("workspace_id")
@connection_options
def remove_cmd(workspace_id: str, json_output: bool, **conn: Any) -> None:
    """Forget a workspace. Its folder and files are not touched."""
    data = _call(_target(**conn), "DELETE", f"/workspaces/{_seg(workspace_id)}")
    emit(data, as_json=json_output, text=f"removed: {_describe(data['workspace'])} (files untouched)")


@click.group("instance")
def instance_group() -> None:
    """opencode's per-workspace instances."""


@instance_group.command("dispose")
@click.argument("workspace_id")
@connection_options
def dispose_cmd(workspace_id: str, json_output: bool, **conn: Any) -> None:
    """Drop opencode's instance for a workspace; the next request creates a fresh one."""
    data = _call(_target(**conn), "POST", f"/workspaces/{_seg(workspace_id)}/dispose")
    emit(data, as_json=json_output, text=f"disposed: {data['workspace']['id']}")


def _seg(value: str) -> str:
    """An id as one URL path segment. Something that would not stay one segment (``/``, ``.``,
    ``..``) cannot be a workspace id: say so here instead of sending a different path."""
    from urllib.parse import quote

    if not value or "/" in value or "\\" in value or value.strip(".") == "":
        raise NotFoundError(f"no such workspace: {value!r}")
    return quote(value, safe="")
