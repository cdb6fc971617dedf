"""What a run prints once it is ready: the connect info (``--json``: one JSON object with the tokens)."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING

from openwork import __version__
from openwork.auth.credentials import Credentials
from openwork.runtime.stack import Stack
from openwork.sidecars.resolver import ResolvedBinary

if TYPE_CHECKING:
    from openwork.api.context import AppContext
    from openwork.lifecycle.server import ServeOptions

__all__ = ["connect_info", "print_ready", "redacted"]


def connect_info(ctx: AppContext, binary: ResolvedBinary, stack: Stack) -> dict[str, object]:
    opencode = stack.opencode.status()
    router = stack.router_driver
    return {
        "openworkUrl": ctx.url,
        "opencodeUrl": stack.driver.url,
        "clientToken": ctx.credentials.client_token,
        "hostToken": ctx.credentials.host_token,
        "workspace": str(ctx.config.workspace),
        "dataDir": str(ctx.config.data_dir),
        "runId": ctx.config.run_id,
        "pids": {"server": os.getpid(), "opencode": opencode.pid},
        "versions": {"openwork": __version__, "opencode": stack.driver.version},
        "opencodeBinary": binary.to_json(),
        # The original's keys, for scripts written against it.
        "openwork": {
            "connectUrl": ctx.url,
            "hostToken": ctx.credentials.host_token,
            "ownerToken": ctx.credentials.client_token,  # the client token has owner scope
        },
        "opencode": _opencode_connect(ctx, stack),
        "opencodeRouter": {
            "enabled": router is not None,
            "version": (router.version or router.binary.version) if router is not None else None,
            "healthPort": router.port if router is not None else None,
        },
    }


def _opencode_connect(ctx: AppContext, stack: Stack) -> dict[str, object]:
    """opencode's address; its login only when the caller chose it (a login we made stays ours)."""
    login = ctx.config.opencode_login
    connect: dict[str, object] = {"connectUrl": stack.driver.url}
    if login is not None:
        connect |= {"username": login.username, "password": login.password}
    return connect


def redacted(token: str) -> str:
    return token[:4] + "…" + "(redacted)"


def print_ready(info: dict[str, object], credentials: Credentials, opts: ServeOptions) -> None:
    out = opts.stdout or sys.stdout
    if opts.json_output:
        out.write(json.dumps(info) + "\n")
    else:
        out.write(
            "OpenWork server ready\n"
            f"  OpenWork URL:  {info['openworkUrl']}\n"
            f"  opencode URL:  {info['opencodeUrl']}  (reachable only with the server's credentials)\n"
            f"  client token:  {redacted(credentials.client_token)}  (print it with --json)\n"
            f"  workspace:     {info['workspace']}\n"
            f"  data dir:      {info['dataDir']}\n"
        )
    out.flush()
