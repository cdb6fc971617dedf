"""The options of the commands that run the server (``serve``, ``start``, ``daemon run``), by family.

Declared once here (the shared single options and the sidecar family are in ``openwork.cli.options``);
``openwork.cli.serveconfig`` turns their values into the frozen ``ServerConfig``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from openwork.cli.options import (
    DIR,
    FILE,
    daemon_host_option,
    daemon_port_option,
    data_dir_option,
    opencode_port_option,
    openwork_host_option,
    port_option,
    sidecar_options,
    stack,
)
from openwork.constants import (
    DEFAULT_APPROVAL_TIMEOUT_MS,
    DEFAULT_BACKOFF_INITIAL,
    DEFAULT_HOT_RELOAD_COOLDOWN_MS,
    DEFAULT_HOT_RELOAD_DEBOUNCE_MS,
    DEFAULT_MAX_FAILURES,
    DEFAULT_RESTART_WINDOW,
    DEFAULT_RESTART_WINDOW_MAX,
    DEFAULT_SANDBOX_IMAGE,
)

__all__ = ["cors_option", "daemon_run_options", "server_options", "start_options", "workspace_option"]

F = TypeVar("F", bound=Callable[..., Any])


# `serve` and `start` only: `daemon run --cors` is the original's flag for opencode's own CORS (the desktop
# app passes it), so the daemon reads ours from the environment alone.
cors_option = click.option(
    "--cors",
    "cors",
    envvar="OPENWORK_CORS_ORIGINS",
    metavar="ORIGIN[,ORIGIN]",
    help='Browser origins allowed to call the API and the proxy ("*": any origin, a token is still needed). '
    "[default: none; env OPENWORK_CORS_ORIGINS]",
)


def workspace_option(*, default: str | None) -> Callable[[F], F]:
    """``serve``/``start`` work in "." unless told otherwise; ``daemon run`` registers no folder by default."""
    return click.option(
        "--workspace",
        "-w",
        type=DIR,
        default=default,
        envvar="OPENWORK_WORKSPACE",
        show_default=default is not None,
        help="Workspace folder opencode works in (registered and made active)."
        if default is not None
        else "Also register this folder and make it active (default: none; add workspaces later).",
    )


_approval_options = stack(
    click.option(
        "--approval",
        "approval_mode",
        type=click.Choice(("auto", "manual")),
        default="manual",
        show_default=True,
        envvar="OPENWORK_APPROVAL_MODE",
        help="manual: every file write waits for the host's decision. [env OPENWORK_APPROVAL_MODE]",
    ),
    click.option(
        "--approval-timeout-ms",
        type=click.IntRange(1, 3_600_000),
        default=DEFAULT_APPROVAL_TIMEOUT_MS,
        show_default=True,
        envvar="OPENWORK_APPROVAL_TIMEOUT_MS",
        help="No decision within this long = deny.",
    ),
    click.option(
        "--files-allow-config-write",
        is_flag=True,
        envvar="OPENWORK_FILES_ALLOW_CONFIG_WRITE",
        help="Let collaborator tokens (and, in manual approval mode, every minted token) change git hooks "
        "and opencode config through file sessions.",
    ),
)

_hot_reload_options = stack(
    click.option(
        "--opencode-hot-reload/--no-opencode-hot-reload",
        "hot_reload",
        default=True,
        show_default=True,
        envvar="OPENWORK_OPENCODE_HOT_RELOAD",
        help="Dispose a workspace's opencode instance when its opencode config changes.",
    ),
    click.option(
        "--opencode-hot-reload-debounce-ms",
        "hot_reload_debounce_ms",
        type=click.IntRange(0, 60_000),
        default=DEFAULT_HOT_RELOAD_DEBOUNCE_MS,
        show_default=True,
        envvar="OPENWORK_OPENCODE_HOT_RELOAD_DEBOUNCE_MS",
    ),
    click.option(
        "--opencode-hot-reload-cooldown-ms",
        "hot_reload_cooldown_ms",
        type=click.IntRange(0, 600_000),
        default=DEFAULT_HOT_RELOAD_COOLDOWN_MS,
        show_default=True,
        envvar="OPENWORK_OPENCODE_HOT_RELOAD_COOLDOWN_MS",
    ),
)

_sandbox_options = stack(
    click.option(
        "--sandbox",
        type=click.Choice(("none", "auto", "docker", "podman", "container")),
        default="none",
        show_default=True,
        envvar="OPENWORK_SANDBOX",
        help="Run opencode in a container (the workspace stays mounted from the host).",
    ),
    click.option(
        "--sandbox-engine",
        type=FILE,
        envvar="OPENWORK_SANDBOX_ENGINE",
        help="The engine CLI to use (default: found on PATH). Host quirks: OPENWORK_SANDBOX_ENGINE_ARGS.",
    ),
    click.option(
        "--sandbox-image",
        default=DEFAULT_SANDBOX_IMAGE,
        show_default=True,
        envvar="OPENWORK_SANDBOX_IMAGE",
        help="Image with glibc and a shell; opencode is mounted into it read-only.",
    ),
    click.option(
        "--sandbox-persist-dir",
        type=DIR,
        envvar="OPENWORK_SANDBOX_PERSIST_DIR",
        help="Mounted at /persist for opencode's state. [default: <data dir>/sandbox-persist]",
    ),
    click.option(
        "--sandbox-mount",
        "sandbox_mounts",
        multiple=True,
        metavar="HOST:NAME[:ro]",
        help="Extra folder at /workspace/extra/NAME, only inside an allowlisted root (repeatable).",
    ),
    click.option(
        "--sandbox-memory",
        envvar="OPENWORK_SANDBOX_MEMORY",
        metavar="SIZE",
        help="Memory limit of the container (e.g. 4g, 512m). [default: 4g]",
    ),
    click.option(
        "--sandbox-cpus",
        type=click.FloatRange(0.01, 1024),
        envvar="OPENWORK_SANDBOX_CPUS",
        help="CPU limit of the container. [default: the host's cores minus one, at least 1]",
    ),
    click.option(
        "--sandbox-network",
        type=click.Choice(("default", "none")),
        default="default",
        show_default=True,
        envvar="OPENWORK_SANDBOX_NETWORK",
        help="The container's network: the engine's default (egress open). `none` is refused for now (see README).",
    ),
)

_supervision_options = stack(
    click.option(
        "--opencode-router/--no-opencode-router",
        "router",
        default=None,
        help="Run the messaging router (default: env OPENWORK_OPENCODE_ROUTER, the workspace's config, "
        "or only when the router is configured).",
    ),
    click.option(
        "--opencode-router-health-port",
        "router_port",
        type=click.IntRange(0, 65535),
        default=0,
        envvar="OPENCODE_ROUTER_HEALTH_PORT",
        help="The router's health port (as the original). [default: a free port]",
    ),
    click.option(
        "--opencode-router-required",
        "router_required",
        is_flag=True,
        envvar="OPENWORK_OPENCODE_ROUTER_REQUIRED",
        help="Stop the stack (non-zero exit) when the router fails for good.",
    ),
    click.option(
        "--restart-max-failures",
        type=click.IntRange(1, 1000),
        default=DEFAULT_MAX_FAILURES,
        show_default=True,
        envvar="OPENWORK_RESTART_MAX_FAILURES",
        help="Consecutive failures before a service is given up on.",
    ),
    click.option(
        "--restart-backoff-ms",
        type=click.IntRange(1, 60_000),
        default=int(DEFAULT_BACKOFF_INITIAL * 1000),
        show_default=True,
        envvar="OPENWORK_RESTART_BACKOFF_MS",
        help="First restart delay; it doubles up to 30 s.",
    ),
    click.option(
        "--restart-window-max",
        type=click.IntRange(min=1),
        default=DEFAULT_RESTART_WINDOW_MAX,
        show_default=True,
        envvar="OPENWORK_RESTART_WINDOW_MAX",
        help="Failures within --restart-window-ms before a service is given up on.",
    ),
    click.option(
        "--restart-window-ms",
        type=click.FloatRange(min=1),
        default=int(DEFAULT_RESTART_WINDOW * 1000),
        show_default=True,
        envvar="OPENWORK_RESTART_WINDOW_MS",
        help="The window of the failure budget.",
    ),
)


def _server_options(address: Callable[[F], F]) -> Callable[[F], F]:
    """`serve`, `start` and `daemon run` (after their --workspace), in `--help` order; ``address``: the
    listening port (and the original's bind-host flag), whose names differ between them."""
    return stack(
        sidecar_options,
        data_dir_option,
        address,
        opencode_port_option,
        click.option(
            "--log-format",
            type=click.Choice(("pretty", "json")),
            default="pretty",
            envvar="OPENWORK_LOG_FORMAT",
            show_default=True,
            help="Log stream format (stderr). The log file (<data>/logs/openwork.jsonl) is always JSON.",
        ),
        click.option(
            "--log-max-size",
            default="10m",
            show_default=True,
            envvar="OPENWORK_LOG_MAX_SIZE",
            metavar="SIZE",
            help="The log file rotates past this size (e.g. 10m, 1g).",
        ),
        click.option(
            "--log-backups",
            type=click.IntRange(0, 100),
            default=5,
            show_default=True,
            envvar="OPENWORK_LOG_BACKUPS",
            help="Rotated log files kept (0: the file is cut when full).",
        ),
        _approval_options,
        _hot_reload_options,
        _sandbox_options,
        _supervision_options,
        click.option(
            "--proxy-max-body",
            default="64m",
            show_default=True,
            envvar="OPENWORK_PROXY_MAX_BODY",
            metavar="SIZE",
            help="Largest request body through the opencode proxy (streamed; e.g. 64m, 1g).",
        ),
        click.option("--run-id", envvar="OPENWORK_RUN_ID", help="Name this run in logs (default: random)."),
        click.option("--json", "json_output", is_flag=True, help="Print the connect info as one JSON object."),
        click.option("--verbose", "-v", is_flag=True, help="Debug-level events."),
        click.option("--check", is_flag=True, help="Start, verify health and an opencode session, stop, exit."),
        click.option("--check-events", is_flag=True, help="With the checks, also read one event of each SSE stream."),
        click.option(
            "--dev",
            "dev_mode",
            is_flag=True,
            envvar="OPENWORK_DEV_MODE",
            help="Isolated opencode config/state under the data dir. [env OPENWORK_DEV_MODE=1]",
        ),
    )


# `daemon run` only: the desktop app's command line (its launcher talks to opencode directly).
_desktop_options = stack(
    click.option(
        "--opencode-host",
        default="127.0.0.1",
        show_default=True,
        envvar="OPENWORK_OPENCODE_HOST",
        help="opencode's listen address: loopback only (127.0.0.1, localhost, ::1); anything else is refused.",
    ),
    click.option(
        "--opencode-workdir",
        type=DIR,
        envvar="OPENWORK_OPENCODE_WORKDIR",
        help="opencode's working folder (not registered as a workspace). [default: a scratch folder]",
    ),
    click.option(
        "--opencode-username",
        metavar="NAME",
        help="opencode's login, chosen by the launcher (with OPENWORK_INTERNAL_ALLOW_OPENCODE_CREDENTIALS=1; "
        "prefer env OPENWORK_OPENCODE_USERNAME/PASSWORD: argv is visible to every local user).",
    ),
    click.option("--opencode-password", metavar="SECRET", help="See --opencode-username."),
    click.option(
        "--cors",
        "opencode_cors",
        envvar="OPENWORK_OPENCODE_CORS",
        metavar="ORIGIN[,ORIGIN]",
        help="opencode's own CORS (`opencode serve --cors`), as the original; our API's CORS comes from env "
        "OPENWORK_CORS_ORIGINS. [env OPENWORK_OPENCODE_CORS]",
    ),
)

server_options = _server_options(stack(openwork_host_option, port_option))
daemon_run_options = stack(_server_options(stack(daemon_host_option, daemon_port_option)), _desktop_options)

# `start` only: how it runs, never passed on to the server.
start_options = stack(
    click.option("--no-tui", is_flag=True, help="Plain log stream in this process instead of the dashboard."),
    click.option("--detach", is_flag=True, help="Start the stack in the background, print the summary, exit 0."),
    click.option(
        "--timeout",
        type=click.FloatRange(1, 900),
        default=60.0,
        show_default=True,
        help="With the dashboard or --detach: seconds to wait for the stack to be healthy.",
    ),
)
