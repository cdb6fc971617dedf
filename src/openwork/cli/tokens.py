"""``openwork tokens create|list|revoke``: the host's thin client of ``/tokens``.

These need the host token: on the server's machine it is read from the data dir; for a server elsewhere
pass ``--openwork-url`` and ``--host-token`` (or ``OPENWORK_HOST_TOKEN``).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import click

from openwork.cli.client import ServerTarget, connection_options, find_target, request
from openwork.cli.output import emit
from openwork.errors import ForbiddenError, NotFoundError

__all__ = ["tokens_group"]

SCOPES = ("owner", "collaborator", "viewer")


def _target(conn: dict[str, Any]) -> ServerTarget:
    return find_target(
        url=conn["openwork_url"], token=conn["token"], host_token=conn["host_token"], data_dir=conn["data_dir"]
    )


def _call(target: ServerTarget, method: str, path: str, **kwargs: Any) -> Any:
    try:
        return request(target, method, path, **kwargs)
    except ForbiddenError as exc:
        if target.host_token is None:
            raise ForbiddenError(
                exc.message, hint="managing tokens needs the host token: --host-token or OPENWORK_HOST_TOKEN"
            ) from exc
        raise


def _reach(token: dict[str, Any]) -> str:
    ids = token.get("workspaceIds")
    if ids is None:
        return "every workspace"
    return ",".join(ids) if ids else "no workspace (its workspaces were removed)"


def _when(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) if stamp is not None else "never"


def _state(token: dict[str, Any], now: float) -> str:
    if token.get("revokedAt") is not None:
        return "revoked"
    expires = token.get("expiresAt")
    return "expired" if expires is not None and now >= expires else "active"


@click.group("tokens")
def tokens_group() -> None:
    """Scoped tokens for other people and devices (host only): create, list, revoke.

    \b
    Scopes: owner (everything but the host-only routes), collaborator (also prompts,
    sessions and file writes), viewer (read only). --workspace limits a token to
    those workspaces; any other workspace is "not found" to it.

    \b
    Examples:
      TOKEN=$(openwork tokens create --scope viewer --workspace ws_0123456789ab --ttl 86400)
      openwork tokens list
      openwork tokens revoke tok_0123456789abcdef
    """


@tokens_group.command("create")
@click.option("--scope", type=click.Choice(SCOPES), required=True, help="What the token may do.")
@click.option(
    "--workspace",
    "workspaces",
    multiple=True,
    metavar="ID",
    help="Limit the token to this workspace; repeat for several. Default: every workspace.",
)
@click.option("--ttl", type=click.IntRange(min=1), metavar="SECONDS", help="Expire after SECONDS. Default: never.")
@click.option("--label", default="", help="A note to recognise it by in `openwork tokens list`.")
@connection_options
def create_cmd(
    scope: str, workspaces: tuple[str, ...], ttl: int | None, label: str, json_output: bool, **conn: Any
) -> None:
    """Mint a token and print it once: alone on stdout (details on stderr), or with --json the record and token."""
    body: dict[str, Any] = {"scope": scope, "label": label}
    if ttl is not None:
        body["ttlSeconds"] = ttl
    if workspaces:
        body["workspaceIds"] = list(workspaces)
    data = _call(_target(conn), "POST", "/tokens", json_body=body)
    if json_output:
        emit(data, as_json=True)
        return
    click.echo(
        f"minted {data['id']}: {data['scope']}, {_reach(data)}, expires {_when(data['expiresAt'])}."
        " The token is shown only this once.",
        err=True,
    )
    click.echo(data["token"])


@tokens_group.command("list")
@connection_options
def list_cmd(json_output: bool, **conn: Any) -> None:
    """List minted tokens (never the tokens themselves): id, scope, state, workspaces, expiry, label."""
    data = _call(_target(conn), "GET", "/tokens")
    now = time.time()
    lines = [
        f"{t['id']}  {t['scope']:<12} {_state(t, now):<7}  {_reach(t)}  expires {_when(t['expiresAt'])}"
        + (f"  {t['label']}" if t["label"] else "")
        for t in data
    ]
    emit(data, as_json=json_output, text="\n".join(lines) or "no tokens minted yet: openwork tokens create --scope S")


@tokens_group.command("revoke")
@click.argument("token_id")
@connection_options
def revoke_cmd(token_id: str, json_output: bool, **conn: Any) -> None:
    """Revoke TOKEN_ID (from `tokens list`): it stops working at once. Revoking twice is fine."""
    if not token_id or "/" in token_id or token_id.strip(".") == "":
        raise NotFoundError(f"no token with id {token_id!r}")
    data = _call(_target(conn), "DELETE", f"/tokens/{quote(token_id, safe='')}")
    emit(data, as_json=json_output, text=f"revoked {data['id']}")
