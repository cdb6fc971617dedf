"""``openwork sandbox inspect``: what the engine says the running server's container may do."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from openwork.cli.client import connection_options, find_target, request, server_record
from openwork.cli.output import emit
from openwork.errors import OpenworkError

__all__ = ["sandbox_group"]

INSPECT_TIMEOUT = 30.0  # one `podman inspect` / `docker inspect`
NOT_RUNNING = "no sandboxed server running"


@click.group("sandbox")
def sandbox_group() -> None:
    """The sandboxed opencode's container: its effective privileges, limits and mounts."""


@sandbox_group.command("inspect")
@connection_options
def inspect_cmd(
    openwork_url: str | None, token: str | None, host_token: str | None, data_dir: Path | None, json_output: bool
) -> None:
    """Print the running server's container settings as its engine reports them. Exit 1 when none runs."""
    from openwork.sandbox.engine import engine_at
    from openwork.sandbox.inspect import render_settings, summarize

    target = find_target(url=openwork_url, token=token, host_token=host_token, data_dir=data_dir)
    if openwork_url is None and server_record(target.data_dir) is None:
        _not_running(json_output)
    try:
        sandbox = request(target, "GET", "/system/opencode/health").get("sandbox")
    except OpenworkError:
        sandbox = None
    if not isinstance(sandbox, dict) or not sandbox.get("container"):
        _not_running(json_output)
    engine = engine_at(str(sandbox["engine"]), str(sandbox.get("cli") or sandbox["engine"]))
    argv = engine.inspect_argv(str(sandbox["container"]))
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=INSPECT_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OpenworkError(f"`{' '.join(argv[:2])} inspect` failed: {exc}") from exc
    if done.returncode != 0:
        raise OpenworkError(f"`{engine.kind} inspect` failed: {done.stderr.strip() or done.returncode}")
    try:
        raw: Any = json.loads(done.stdout)
    except ValueError as exc:
        raise OpenworkError(f"`{engine.kind} inspect` printed no JSON") from exc
    summary = summarize(engine.kind, raw[0] if isinstance(raw, list) and raw else raw)
    emit(summary, as_json=json_output, text=render_settings(summary))


def _not_running(json_output: bool) -> NoReturn:
    emit({"error": NOT_RUNNING}, as_json=json_output, text=None)
    click.echo(NOT_RUNNING, err=True)
    sys.exit(1)
