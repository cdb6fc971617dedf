"""``openwork serve`` and ``openwork start``: run the server in this process."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from openwork.cli.sidecar_options import pop_sidecar_settings, sidecar_options
from openwork.config import DEFAULT_SANDBOX_IMAGE, RestartPolicy, ServerConfig, default_data_dir, new_run_id
from openwork.constants import (
    DEFAULT_APPROVAL_TIMEOUT_MS,
    DEFAULT_BACKOFF_INITIAL,
    DEFAULT_MAX_FAILURES,
    DEFAULT_OPENCODE_PORT,
    DEFAULT_PORT,
)
from openwork.errors import ConfigError

if TYPE_CHECKING:
    from openwork.logging import LogHub

__all__ = ["daemon_run_cmd", "run_server", "serve_cmd", "start_cmd"]


def _workspace_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--workspace",
        "-w",
        type=click.Path(file_okay=False, path_type=Path),
        default=".",
        show_default=True,
        envvar="OPENWORK_WORKSPACE",
        help="Workspace folder opencode works in (registered and made active).",
    )(func)


def _server_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--data-dir",
            type=click.Path(file_okay=False, path_type=Path),
            envvar="OPENWORK_DATA_DIR",
            help="State directory (tokens, database, sidecar cache). [env OPENWORK_DATA_DIR]",
        ),
        click.option(
            "--port",
            type=click.IntRange(0, 65535),
            default=DEFAULT_PORT,
            show_default=True,
            envvar="OPENWORK_PORT",
            help="HTTP port on 127.0.0.1; 0 picks a free one.",
        ),
        click.option(
            "--opencode-port",
            type=click.IntRange(0, 65535),
            default=DEFAULT_OPENCODE_PORT,
            show_default=True,
            envvar="OPENWORK_OPENCODE_PORT",
            help="Preferred opencode port; a free one is used if it is taken.",
        ),
        click.option(
            "--log-format",
            type=click.Choice(["pretty", "json"]),
            default="pretty",
            envvar="OPENWORK_LOG_FORMAT",
            show_default=True,
            help="Log stream format (stderr).",
        ),
        click.option(
            "--approval",
            "approval_mode",
            type=click.Choice(["auto", "manual"]),
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
            default=700,
            show_default=True,
            envvar="OPENWORK_OPENCODE_HOT_RELOAD_DEBOUNCE_MS",
        ),
        click.option(
            "--opencode-hot-reload-cooldown-ms",
            "hot_reload_cooldown_ms",
            type=click.IntRange(0, 600_000),
            default=1500,
            show_default=True,
            envvar="OPENWORK_OPENCODE_HOT_RELOAD_COOLDOWN_MS",
        ),
        click.option(
            "--sandbox",
            type=click.Choice(["none", "auto", "docker", "podman", "container"]),
            default="none",
            show_default=True,
            envvar="OPENWORK_SANDBOX",
            help="Run opencode in a container (the workspace stays mounted from the host).",
        ),
        click.option(
            "--sandbox-engine",
            type=click.Path(dir_okay=False, path_type=Path),
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
            type=click.Path(file_okay=False, path_type=Path),
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
            "--opencode-router/--no-opencode-router",
            "router",
            default=None,
            help="Run the messaging router (default: env OPENWORK_OPENCODE_ROUTER, the workspace's config, "
            "or only when the router is configured).",
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
    ]
    for option in reversed(options):
        func = option(func)
    return sidecar_options(func)


def run_server(
    *,
    workspace: Path | None,
    data_dir: Path | None,
    port: int,
    opencode_port: int,
    log_format: str,
    run_id: str | None,
    json_output: bool,
    verbose: bool,
    check: bool,
    check_events: bool,
    dev_mode: bool,
    approval_mode: str,
    approval_timeout_ms: int,
    hot_reload: bool,
    hot_reload_debounce_ms: int,
    hot_reload_cooldown_ms: int,
    router: bool | None,
    router_required: bool,
    sandbox: str,
    sandbox_engine: Path | None,
    sandbox_image: str,
    sandbox_persist_dir: Path | None,
    sandbox_mounts: tuple[str, ...],
    restart_max_failures: int,
    restart_backoff_ms: int,
    **sidecar_flags: Any,
) -> int:
    sidecars = pop_sidecar_settings(sidecar_flags, data_dir)
    root = (data_dir.expanduser() if data_dir else default_data_dir()).absolute()
    if workspace is None:
        # The daemon serves registered workspaces by directory; opencode itself needs some folder to
        # start in, and that scratch folder is not a workspace.
        folder = root / "daemon-workspace"
        folder.mkdir(parents=True, exist_ok=True)
    else:
        folder = workspace.expanduser()
    if not folder.is_dir():
        raise ConfigError(f"workspace {folder} does not exist or is not a directory")
    config = ServerConfig(
        workspace=folder.resolve(),
        register_workspace=workspace is not None,
        data_dir=root,
        port=port,
        sidecars=sidecars,
        opencode_port=opencode_port,
        log_format="json" if log_format == "json" else "pretty",
        run_id=run_id or new_run_id(),
        # Secrets come from the environment only: never from argv, where `ps` shows them.
        client_token=os.environ.get("OPENWORK_TOKEN") or None,
        host_token=os.environ.get("OPENWORK_HOST_TOKEN") or None,
        dev_mode=dev_mode,
        approval_mode="auto" if approval_mode == "auto" else "manual",
        approval_timeout_ms=approval_timeout_ms,
        hot_reload=hot_reload,
        hot_reload_debounce_ms=hot_reload_debounce_ms,
        hot_reload_cooldown_ms=hot_reload_cooldown_ms,
        router=router,
        router_required=router_required,
        sandbox=sandbox,
        sandbox_engine=sandbox_engine.expanduser().absolute() if sandbox_engine else None,
        sandbox_image=sandbox_image,
        sandbox_persist_dir=sandbox_persist_dir.expanduser().absolute() if sandbox_persist_dir else None,
        sandbox_mounts=tuple(sandbox_mounts),
        policy=RestartPolicy(max_failures=restart_max_failures, initial_delay=restart_backoff_ms / 1000),
    )
    from openwork.gcpolicy import relax_for_start_up
    from openwork.launch import prepare

    relax_for_start_up()  # until the server is ready (see gcpolicy)
    hubs: list[LogHub] = []

    def logging_ready() -> LogHub:
        if not hubs:
            from openwork.logging import configure_logging

            hubs.append(configure_logging(fmt=config.log_format, run_id=config.run_id, verbose=verbose))
        return hubs[0]

    # opencode starts here, before the server's own modules (and logging's) are imported: they load
    # while it boots.
    launch = prepare(config, logging_ready=logging_ready)
    try:
        import asyncio

        from openwork.server import ServeOptions, serve

        opts = ServeOptions(json_output=json_output, check=check, check_events=check_events)
        return asyncio.run(serve(config, logging_ready(), launch, opts))
    finally:
        launch.close()


def _finish(code: int) -> NoReturn:
    """Exit without the interpreter's teardown. By now every child is stopped, the database closed and
    the data-dir lock released; unloading a few hundred modules only held `daemon stop` and Ctrl+C
    ~150 ms longer."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


@click.command("serve")
@_workspace_option
@_server_options
def serve_cmd(**kwargs: Any) -> None:
    """Run the OpenWork server and supervise opencode in this process (no dashboard).

    Prints the connect info once opencode is healthy; logs go to stderr. Ctrl+C stops everything in
    order (exit 130); a second Ctrl+C forces. SIGTERM exits 143.
    """
    _finish(run_server(**kwargs))


@click.command("start")
@_workspace_option
@_server_options
@click.option("--no-tui", is_flag=True, help="Plain log stream in this process instead of the dashboard.")
@click.option("--detach", is_flag=True, help="Start the stack in the background, print the summary, exit 0.")
@click.option(
    "--timeout",
    type=click.FloatRange(1, 900),
    default=60.0,
    show_default=True,
    help="With the dashboard or --detach: seconds to wait for the stack to be healthy.",
)
@click.pass_context
def start_cmd(ctx: click.Context, /, no_tui: bool, detach: bool, timeout: float, **kwargs: Any) -> None:
    """Start a workspace: the server, opencode, and (in a terminal) the dashboard.

    In a terminal the stack runs in the background and the dashboard shows it: `d` detaches (the stack
    keeps running), `q` or Ctrl+C stops it. Without a terminal on stdout, or with --no-tui, this is
    `openwork serve` in the foreground. --check always runs in the foreground.
    """
    interactive = sys.stdout.isatty() and sys.stdin.isatty() and not no_tui
    if (detach or interactive) and not (kwargs["check"] or kwargs["check_events"]):
        from openwork.cli.dashboard import start_in_background

        sys.exit(start_in_background(ctx.command, kwargs, detach=detach, timeout=timeout))
    _finish(run_server(**kwargs))


_FOREGROUND_ONLY = {"json_output", "check", "check_events", "no_tui", "detach", "timeout", "port", "data_dir"}


def daemon_argv(command: click.Command, values: dict[str, Any]) -> list[str]:
    """The flags that reproduce ``values`` for ``openwork daemon run`` (defaults and foreground-only
    options left out). Secrets never travel this way: they are in the environment the daemon inherits."""
    argv: list[str] = []
    for param in command.params:
        if not isinstance(param, click.Option) or param.name is None or param.name in _FOREGROUND_ONLY:
            continue
        value: Any = values.get(param.name)
        if param.name == "workspace" and value is not None:
            value = Path(value).expanduser().resolve()  # "." means the folder `start` ran in, always passed
        elif value is None or value == param.default or value == ():
            continue
        if param.multiple:
            argv += [arg for item in value for arg in (max(param.opts, key=len), str(item))]
            continue
        if param.is_flag and param.secondary_opts:  # --x/--no-x: say which one
            argv.append(param.opts[0] if value else param.secondary_opts[0])
            continue
        if param.is_flag and not value:
            continue
        flag = max(param.opts, key=len)
        argv += [flag] if param.is_flag else [flag, str(value)]
    return argv


@click.command("run")
@click.option(
    "--workspace",
    "-w",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="OPENWORK_WORKSPACE",
    help="Also register this folder and make it active (default: none; add workspaces later).",
)
@_server_options
def daemon_run_cmd(**kwargs: Any) -> None:
    """Run the daemon in the foreground (what `openwork daemon start` launches in the background)."""
    _finish(run_server(**kwargs))
