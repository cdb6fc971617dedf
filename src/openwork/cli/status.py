"""``openwork status``: is the server up, and is opencode healthy?"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from openwork.cli.client import connection_options, find_target, request
from openwork.cli.output import emit
from openwork.errors import OpenworkError

__all__ = ["status_cmd"]


@click.command("status")
@connection_options
def status_cmd(
    openwork_url: str | None, token: str | None, host_token: str | None, data_dir: Path | None, json_output: bool
) -> None:
    """Report server and opencode health. Exit 0 when healthy, 1 when not."""
    target = find_target(url=openwork_url, token=token, host_token=host_token, data_dir=data_dir)
    result: dict[str, object] = {"url": target.url, "reachable": False, "healthy": False}
    try:
        request(target, "GET", "/system/health")
        result["reachable"] = True
        data = request(target, "GET", "/system/status")
        result.update(healthy=data["healthy"], server=data["server"], services=data["services"])
    except OpenworkError as exc:
        result["error"] = exc.message
    lines = [f"server   {target.url}  {'up' if result['reachable'] else 'unreachable'}"]
    for svc in result.get("services", []):  # type: ignore[attr-defined]
        pid = f"pid {svc['pid']}" if svc.get("pid") else "no pid"
        lines.append(f"{svc['name']:<8} {svc['state']}  {pid}  {svc.get('url') or ''}".rstrip())
    if "error" in result:
        lines.append(f"error: {result['error']}")
    emit(result, as_json=json_output, text="\n".join(lines))
    sys.exit(0 if result["healthy"] else 1)
