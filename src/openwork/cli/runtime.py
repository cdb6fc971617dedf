"""``openwork runtime status|versions|upgrade``: thin clients of ``/system/runtime``."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from openwork.cli.client import connection_options, find_target, request
from openwork.cli.output import emit
from openwork.errors import OpenworkError, ValidationError

__all__ = ["runtime_group"]

UPGRADE_WAIT_TIMEOUT = 900.0  # a new opencode is ~60 MB from the registry, then each restart is health-gated
UPGRADE_POLL = 0.5


def _target(conn: dict[str, Any]) -> Any:
    return find_target(
        url=conn["openwork_url"], token=conn["token"], host_token=conn["host_token"], data_dir=conn["data_dir"]
    )


@click.group("runtime")
def runtime_group() -> None:
    """What the stack runs, and upgrading it (verified first, one service at a time, rolled back on failure)."""


@runtime_group.command("status")
@connection_options
def status_cmd(json_output: bool, **conn: Any) -> None:
    """Every service with its binary, version, source and sha256; the last upgrade."""
    data = request(_target(conn), "GET", "/system/runtime/summary")
    lines = []
    for svc in data["services"]:
        lines.append(
            f"{svc['name']:<9} {svc['state']:<17} pid {svc['pid'] or '-':<7} v{svc['binaryVersion'] or '?'}"
            f"  {svc['source']}  {svc['binaryPath']}"
        )
        lines.append(f"          sha256 {svc['sha256'] or '(not computed: external)'}")
    upgrade = data["upgrade"]
    lines.append(f"upgrade: {upgrade['state']}" + (f" ({upgrade['error']})" if upgrade["error"] else ""))
    emit(data, as_json=json_output, text="\n".join(lines))


@runtime_group.command("versions")
@connection_options
def versions_cmd(json_output: bool, **conn: Any) -> None:
    """Active and pinned versions of server, opencode and router; where a running upgrade moves them."""
    data = request(_target(conn), "GET", "/system/runtime/versions")
    emit(data, as_json=json_output, text=render_versions(data))


def render_versions(data: dict[str, Any]) -> str:
    """The V2 answer as a table: one row per component, one column per version set."""
    sets = {"active": data["active"], "pinned": data["pinned"], "upgrading to": data.get("upgradeTarget") or {}}
    rows = [f"{'':<9} " + " ".join(f"{name:<12}" for name in sets)]
    for label, key in (("server", "serverVersion"), ("opencode", "opencodeVersion"), ("router", "routerVersion")):
        rows.append(f"{label:<9} " + " ".join(f"{(s.get(key) or '-'):<12}" for s in sets.values()))
    rows.append(f"platform  {data['target']}")
    return "\n".join(row.rstrip() for row in rows)


@runtime_group.command("upgrade")
@click.option("--opencode-version", help="Move opencode to this version.")
@click.option("--router-version", help="Move the router to this version.")
@connection_options
def upgrade_cmd(opencode_version: str | None, router_version: str | None, json_output: bool, **conn: Any) -> None:
    """Upgrade (or downgrade) and wait for the outcome; exit 1 when it failed and was rolled back."""
    if not opencode_version and not router_version:
        raise ValidationError("pass --opencode-version and/or --router-version")
    target = _target(conn)
    body = {k: v for k, v in (("opencodeVersion", opencode_version), ("routerVersion", router_version)) if v}
    request(target, "POST", "/system/runtime/upgrade", json_body=body)
    deadline = time.monotonic() + UPGRADE_WAIT_TIMEOUT
    shown = 0
    while True:
        upgrade = request(target, "GET", "/system/runtime/summary")["upgrade"]
        if not json_output:
            for step in upgrade["steps"][shown:]:
                click.echo(f"  {step}", err=True)
        shown = len(upgrade["steps"])
        if upgrade["state"] != "running":
            break
        if time.monotonic() > deadline:
            raise OpenworkError(f"the upgrade was still running after {UPGRADE_WAIT_TIMEOUT:g}s")
        time.sleep(UPGRADE_POLL)
    text = "upgrade completed" if upgrade["state"] == "completed" else f"upgrade failed: {upgrade['error']}"
    emit(upgrade, as_json=json_output, text=text)
    sys.exit(0 if upgrade["state"] == "completed" else 1)
