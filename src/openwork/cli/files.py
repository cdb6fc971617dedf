"""``openwork files ...`` and ``openwork approvals ...``: thin clients (names and flags as the original)."""

from __future__ import annotations

import base64
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import quote, urlencode

import click

from openwork.cli.client import connection_options, find_target, request
from openwork.cli.output import emit
from openwork.errors import ValidationError

__all__ = ["approvals_group", "files_group"]

F = TypeVar("F", bound=Callable[..., Any])
WRITE_TIMEOUT = 3_700.0  # a write may wait for the host: the server's approval timeout is at most one hour


def _call(conn: dict[str, Any], method: str, path: str, **kwargs: Any) -> Any:
    target = find_target(
        url=conn["openwork_url"], token=conn["token"], host_token=conn["host_token"], data_dir=conn["data_dir"]
    )
    return request(target, method, path, **kwargs)


def either(name: str, flag: str, help_text: str, *, required: bool = True) -> Callable[[F], F]:
    """A value given as the argument NAME (ours) or as the original CLI's FLAG (``--session-id``...)."""
    dest = f"{name}_flag"

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            positional, flagged = kwargs.pop(name), kwargs.pop(dest)
            if positional is not None and flagged is not None and positional != flagged:
                raise click.UsageError(f"give {name.upper()} or {flag}, not both")
            value = positional if positional is not None else flagged
            if value is None and required:
                raise click.UsageError(f"missing {name.upper()} (or {flag})")
            kwargs[name] = value
            return func(*args, **kwargs)

        decorated = click.option(flag, dest, metavar=name.upper(), help=f"{help_text} (or as the argument)")(wrapper)
        return cast(F, click.argument(name, required=False)(decorated))

    return decorate


ttl_option = click.option(
    "--ttl",
    "--ttl-seconds",
    "ttl",
    type=click.IntRange(1, 3600),
    default=600,
    show_default=True,
    help="Seconds until it expires.",
)
session_ref = either("sid", "--session-id", "The file session")


def _sid(value: str) -> str:
    return f"/files/sessions/{quote(value, safe='')}"


def _results(data: dict[str, Any]) -> tuple[str, bool]:
    lines, failed = [], False
    for item in data["items"]:
        if item.get("ok"):
            lines.append(f"ok     {item['path']}" + (f"  rev {item['revision']}" if item.get("revision") else ""))
        else:
            failed = True
            lines.append(f"error  {item.get('path')}: {item['error']['code']}: {item['error']['message']}")
    return "\n".join(lines), failed


@click.group("files")
def files_group() -> None:
    """Remote file access to a workspace through short-lived file sessions.

    \b
    SID=$(openwork files session create --workspace-id ws_... --write --json | jq -r .session.id)
    openwork files catalog $SID --limit 50
    openwork files write $SID --path notes.md --content 'hello'
    openwork files read $SID --paths notes.md
    """


@files_group.group("session")
def session_group() -> None:
    """Open and close file sessions."""


@session_group.command("create")
@click.option("--workspace-id", required=True, help="The workspace (see `openwork workspace list`).")
@click.option("--write", is_flag=True, help="Allow writes (each write batch may wait for approval).")
@ttl_option
@connection_options
def session_create(workspace_id: str, write: bool, ttl: int, json_output: bool, **conn: Any) -> None:
    """Open a session bound to your token."""
    data = _call(
        conn,
        "POST",
        f"/workspace/{quote(workspace_id, safe='')}/files/sessions",
        json_body={"write": write, "ttlSeconds": ttl},
    )
    session = data["session"]
    emit(
        data,
        as_json=json_output,
        text=f"{session['id']}  ({'read-write' if session['write'] else 'read-only'}, expires in {ttl}s)",
    )


@session_group.command("close")
@session_ref
@connection_options
def session_close(sid: str, json_output: bool, **conn: Any) -> None:
    """Close a session."""
    data = _call(conn, "DELETE", _sid(sid))
    emit(data, as_json=json_output, text=f"closed {sid}")


@session_group.command("renew")
@session_ref
@ttl_option
@connection_options
def session_renew(sid: str, ttl: int, json_output: bool, **conn: Any) -> None:
    """Extend a session: it expires TTL seconds from now."""
    data = _call(conn, "POST", f"{_sid(sid)}/renew", json_body={"ttlSeconds": ttl})
    emit(data, as_json=json_output, text=f"renewed {sid} (expires in {ttl}s)")


@files_group.command("catalog")
@session_ref
@click.option("--prefix", help="Only under this folder.")
@click.option("--after", help="Start after this path (from a previous page's nextAfter).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=1000, show_default=True)
@click.option("--include-dirs", is_flag=True, help="List folders too.")
@connection_options
def catalog_cmd(
    sid: str, prefix: str | None, after: str | None, limit: int, include_dirs: bool, json_output: bool, **conn: Any
) -> None:
    """List files, sorted and paged."""
    query = {"limit": str(limit), **({"prefix": prefix} if prefix else {}), **({"after": after} if after else {})}
    if include_dirs:
        query["includeDirs"] = "true"
    data = _call(conn, "GET", f"{_sid(sid)}/catalog/snapshot?{urlencode(query)}")
    lines = [f"{i['kind']:<7} {i['size']:>10}  {i['path']}" for i in data["items"]]
    if data["truncated"]:
        lines.append(f"... more: --after {data['nextAfter']!r}")
    emit(data, as_json=json_output, text="\n".join(lines) or "(empty)")


@files_group.command("events")
@session_ref
@click.option("--since", help="Cursor from a catalog or an earlier events call.")
@connection_options
def events_cmd(sid: str, since: str | None, json_output: bool, **conn: Any) -> None:
    """Changes since a cursor."""
    data = _call(conn, "GET", f"{_sid(sid)}/catalog/events" + (f"?{urlencode({'since': since})}" if since else ""))
    lines = [f"{c['cursor']:>6} {c['kind']:<7} {c['path']}" for c in data["items"]]
    lines.append(f"cursor {data['cursor']}" + ("  (older changes were dropped)" if data["truncated"] else ""))
    emit(data, as_json=json_output, text="\n".join(lines))


@files_group.command("read")
@session_ref
@click.option("--paths", required=True, help="Comma-separated paths.")
@connection_options
def read_cmd(sid: str, paths: str, json_output: bool, **conn: Any) -> None:
    """Read files (text is printed; binary files are summarised)."""
    names = [p for p in paths.split(",") if p]
    data = _call(conn, "POST", f"{_sid(sid)}/read-batch", json_body={"paths": names})
    if json_output:
        emit(data, as_json=True)
    else:
        failed = False
        for item in data["items"]:
            if not item.get("ok"):
                failed = True
                click.echo(f"error  {item.get('path')}: {item['error']['message']}", err=True)
                continue
            content = base64.b64decode(item["contentBase64"])
            try:
                text = content.decode("utf-8")
            except UnicodeDecodeError:
                text = f"({item['size']} bytes of binary data; use --json)\n"
            if len(names) > 1:
                click.echo(f"==> {item['path']} <==")
            click.echo(text, nl=not text.endswith("\n"))
        if failed:
            sys.exit(1)


@files_group.command("write")
@session_ref
@click.option("--path", "path", required=True, help="Workspace-relative path.")
@click.option("--content", help="Text to write.")
@click.option("--content-base64", "content_b64", help="Bytes to write, base64-encoded.")
@click.option("--file", "source", type=click.Path(dir_okay=False, exists=True, path_type=Path), help="Local file.")
@click.option("--if-match", "if_match", help="Only if the file is still at this revision.")
@click.option("--force", is_flag=True, help="Write even if --if-match is stale.")
@connection_options
def write_cmd(
    sid: str,
    path: str,
    content: str | None,
    content_b64: str | None,
    source: Path | None,
    if_match: str | None,
    force: bool,
    json_output: bool,
    **conn: Any,
) -> None:
    """Write one file atomically (may wait for the host's approval)."""
    if sum(x is not None for x in (content, content_b64, source)) != 1:
        raise ValidationError("give exactly one of --content, --content-base64 and --file")
    if content_b64 is not None:
        try:
            base64.b64decode(content_b64, validate=True)
        except ValueError:
            raise ValidationError("--content-base64 is not valid base64") from None
        encoded = content_b64
    else:
        data_bytes = content.encode() if content is not None else source.read_bytes()  # type: ignore[union-attr]
        encoded = base64.b64encode(data_bytes).decode()
    item: dict[str, Any] = {"path": path, "contentBase64": encoded, "force": force}
    if if_match:
        item["ifMatchRevision"] = if_match
    data = _call(conn, "POST", f"{_sid(sid)}/write-batch", json_body={"writes": [item]}, timeout=WRITE_TIMEOUT)
    text, failed = _results(data)
    emit(data, as_json=json_output, text=text)
    if failed:
        sys.exit(1)


def _ops(conn: dict[str, Any], sid: str, operations: list[dict[str, Any]], json_output: bool) -> None:
    data = _call(conn, "POST", f"{_sid(sid)}/ops", json_body={"ops": operations}, timeout=WRITE_TIMEOUT)
    text, failed = _results(data)
    emit(data, as_json=json_output, text=text)
    if failed:
        sys.exit(1)


@files_group.command("mkdir")
@session_ref
@either("path", "--path", "Workspace-relative folder")
@connection_options
def mkdir_cmd(sid: str, path: str, json_output: bool, **conn: Any) -> None:
    """Create a folder (and its parents)."""
    _ops(conn, sid, [{"type": "mkdir", "path": path}], json_output)


@files_group.command("delete")
@session_ref
@either("path", "--path", "Workspace-relative path")
@click.option("--recursive", is_flag=True, help="Delete a folder and everything in it.")
@connection_options
def delete_cmd(sid: str, path: str, recursive: bool, json_output: bool, **conn: Any) -> None:
    """Delete a file or folder."""
    _ops(conn, sid, [{"type": "delete", "path": path, "recursive": recursive}], json_output)


@files_group.command("rename")
@session_ref
@either("path", "--from", "What to move")
@either("to", "--to", "Where to (must not exist)")
@connection_options
def rename_cmd(sid: str, path: str, to: str, json_output: bool, **conn: Any) -> None:
    """Move PATH to TO (TO must not exist)."""
    _ops(conn, sid, [{"type": "rename", "path": path, "to": to}], json_output)


@click.group("approvals")
def approvals_group() -> None:
    """Writes waiting for the host's decision (manual approval mode)."""


@approvals_group.command("list")
@connection_options
def approvals_list(json_output: bool, **conn: Any) -> None:
    """Pending approvals, oldest first."""
    data = _call(conn, "GET", "/approvals")
    lines = [
        f"{p['id']}  {p['action']} {p['count']} path(s), {p['bytes']} bytes  by {p['who']} in {p['workspaceId']}\n"
        + "\n".join(f"    {x['path']}" for x in p["paths"])
        for p in data["items"]
    ]
    emit(data, as_json=json_output, text="\n".join(lines) or f"nothing pending (mode: {data['mode']})")


@approvals_group.command("reply")
@click.argument("approval_id")
@click.option("--allow", "decision", flag_value="allow", help="Let the write happen.")
@click.option("--deny", "decision", flag_value="deny", help="Refuse it; nothing is written.")
@connection_options
def approvals_reply(approval_id: str, decision: str | None, json_output: bool, **conn: Any) -> None:
    """Answer a pending approval."""
    if decision is None:
        raise ValidationError("pass --allow or --deny")
    data = _call(conn, "POST", f"/approvals/{quote(approval_id, safe='')}", json_body={"reply": decision})
    emit(data, as_json=json_output, text=f"{'allowed' if decision == 'allow' else 'denied'} {approval_id}")
