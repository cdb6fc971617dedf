"""Every option shared by more than one command, declared once, as click decorator stacks by family.

A command takes a family (``@sidecar_options``; the server's in ``openwork.cli.serveoptions``) or a single
option (``@data_dir_option``); the order of a family is the order ``--help`` lists it. Values of the
server's options reach ``openwork.cli.serveconfig``, the one place they become settings (flag > env >
default: click reads each option's env var).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from openwork.constants import DEFAULT_OPENCODE_PORT, DEFAULT_PORT
from openwork.sidecars.components import SOURCES

__all__ = [
    "DIR",
    "FILE",
    "allow_external_option",
    "daemon_host_option",
    "daemon_port_option",
    "data_dir_option",
    "host_token_option",
    "json_option",
    "opencode_bin_option",
    "opencode_port_option",
    "openwork_host_option",
    "openwork_url_option",
    "port_option",
    "sidecar_dir_option",
    "sidecar_options",
    "stack",
]

F = TypeVar("F", bound=Callable[..., Any])

LOOPBACK_BIND_HOSTS = frozenset({"127.0.0.1", "localhost"})

DIR = click.Path(file_okay=False, path_type=Path)
FILE = click.Path(dir_okay=False, path_type=Path)


def stack(*options: Callable[[Any], Any]) -> Callable[[F], F]:
    """One decorator from several, listed in ``--help`` in the order given."""

    def decorate(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


# -- single options used by several command groups ------------------------------------------------
data_dir_option = click.option(
    "--data-dir",
    type=DIR,
    envvar="OPENWORK_DATA_DIR",
    help="State directory (tokens, database, sidecar cache). [env OPENWORK_DATA_DIR]",
)
json_option = click.option("--json", "json_output", is_flag=True, help="Print the result as JSON.")


def _port_option(alias: str, envvars: list[str], note: str) -> Callable[[F], F]:
    """``--port`` under the original's name for the command (``alias``)."""
    return click.option(
        "--port",
        alias,
        "port",
        type=click.IntRange(0, 65535),
        default=DEFAULT_PORT,
        show_default=True,
        envvar=envvars,
        help=f"HTTP port on 127.0.0.1; 0 picks a free one. [{note}]",
    )


port_option = _port_option("--openwork-port", ["OPENWORK_PORT"], "--openwork-port: the original's name")
# The original's daemon names: its `daemon start|run` take --daemon-port/--daemon-host.
daemon_port_option = _port_option(
    "--daemon-port", ["OPENWORK_PORT", "OPENWORK_DAEMON_PORT"], "env OPENWORK_DAEMON_PORT"
)
opencode_port_option = click.option(
    "--opencode-port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_OPENCODE_PORT,
    show_default=True,
    envvar="OPENWORK_OPENCODE_PORT",
    help="Preferred opencode port; a free one is used if it is taken (`daemon run`: one given stays fixed).",
)


def _loopback_only(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and value not in LOOPBACK_BIND_HOSTS:
        raise click.BadParameter(
            f"{value}: openwork-py listens on loopback only (127.0.0.1); see README, Switching from the original"
        )
    return value


def _bind_host_option(name: str) -> Callable[[F], F]:
    """The original's bind-host flags, accepted for its command lines: loopback only (not passed on)."""
    return click.option(
        name,
        callback=_loopback_only,
        expose_value=False,
        help="Accepted for the original's command lines: loopback (127.0.0.1, localhost) only.",
    )


daemon_host_option = _bind_host_option("--daemon-host")
openwork_host_option = _bind_host_option("--openwork-host")
opencode_bin_option = click.option(
    "--opencode-bin",
    type=FILE,
    envvar="OPENWORK_OPENCODE_BIN",
    help="Run this opencode binary (needs --allow-external). [env OPENWORK_OPENCODE_BIN]",
)
allow_external_option = click.option(
    "--allow-external",
    is_flag=True,
    envvar="OPENWORK_ALLOW_EXTERNAL",
    help="Allow binaries openwork did not verify (--*-bin, --*-source external).",
)
openwork_url_option = click.option("--openwork-url", envvar="OPENWORK_URL", help="Server URL. [env OPENWORK_URL]")
host_token_option = click.option(
    "--host-token",
    "--openwork-host-token",
    "host_token",
    envvar="OPENWORK_HOST_TOKEN",
    help="Host token (prefer the env var OPENWORK_HOST_TOKEN).",
)
sidecar_dir_option = click.option(
    "--sidecar-dir",
    type=DIR,
    envvar="OPENWORK_SIDECAR_DIR",
    help="Verified binary cache. [default: ~/.openwork/openwork-orchestrator/sidecars, shared by every data dir;"
    " env OPENWORK_SIDECAR_DIR]",
)


def _source(name: str, envvar: str, what: str) -> Callable[[F], F]:
    return click.option(name, type=click.Choice(SOURCES), default="auto", show_default=True, envvar=envvar, help=what)


# -- families --------------------------------------------------------------------------------------
sidecar_options = stack(
    opencode_bin_option,
    click.option(
        "--opencode-router-bin",
        type=FILE,
        envvar="OPENWORK_OPENCODE_ROUTER_BIN",
        help="Run this opencode-router binary (needs --allow-external).",
    ),
    _source(
        "--opencode-source",
        "OPENWORK_OPENCODE_SOURCE",
        "Where opencode comes from: bundled, the verified download cache, or external (PATH).",
    ),
    _source("--sidecar-source", "OPENWORK_SIDECAR_SOURCE", "Where the other sidecars (opencode-router) come from."),
    sidecar_dir_option,
    click.option(
        "--sidecar-base-url",
        envvar="OPENWORK_SIDECAR_BASE_URL",
        help="Release host serving openwork-sidecars.json (https://, or http:// on loopback).",
    ),
    click.option(
        "--sidecar-manifest",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        envvar="OPENWORK_SIDECAR_MANIFEST",
        help="Read the sidecar manifest from this file.",
    ),
    allow_external_option,
    click.option(
        "--allow-unverified",
        is_flag=True,
        envvar="OPENWORK_ALLOW_UNVERIFIED",
        help="Allow downloading manifest entries that list no sha256.",
    ),
)
