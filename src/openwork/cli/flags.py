"""The flags of ``serve``, ``start`` and ``daemon run`` (and the sidecar flags ``sidecars`` shares), as data.

One table, two readers: ``openwork.cli.clickflags`` builds the click options from it (help, defaults,
env vars), and ``openwork.cli.fastparse`` reads it to start opencode before click is even imported
(see ``openwork.cli.early``). So this module imports neither click nor anything heavy.
"""

from __future__ import annotations

from dataclasses import dataclass

from openwork.config import DEFAULT_SANDBOX_IMAGE
from openwork.constants import (
    DEFAULT_APPROVAL_TIMEOUT_MS,
    DEFAULT_BACKOFF_INITIAL,
    DEFAULT_MAX_FAILURES,
    DEFAULT_OPENCODE_PORT,
    DEFAULT_PORT,
)
from openwork.sidecars.components import SOURCES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal

    Kind = Literal["str", "int", "float", "choice", "dir", "file", "flag", "switch"]

__all__ = [
    "DAEMON_RUN_COMMAND_FLAGS",
    "SERVER_FLAGS",
    "SERVE_COMMAND_FLAGS",
    "SIDECAR_FLAGS",
    "START_COMMAND_FLAGS",
    "START_FLAGS",
    "Flag",
    "workspace_flag",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class Flag:
    """One option. ``kind``: str | int | float (``bounds`` inclusive) | choice (``choices``) | dir | file
    (paths; ``exists`` only for file) | flag (``--x``, default False) | switch (``--x/--no-x``)."""

    name: str  # the keyword the command receives
    opts: tuple[str, ...]  # "--long" first, then a short alias
    kind: Kind
    default: object = None
    envvar: str | None = None
    choices: tuple[str, ...] = ()
    bounds: tuple[float, float] | None = None
    off: str | None = None  # a switch's "--no-x"
    multiple: bool = False
    exists: bool = False
    metavar: str | None = None
    help: str | None = None
    show_default: bool = False


def workspace_flag(*, default: str | None) -> Flag:
    """``serve``/``start`` work in "." unless told otherwise; ``daemon run`` registers no folder by default."""
    return Flag(
        name="workspace",
        opts=("--workspace", "-w"),
        kind="dir",
        default=default,
        envvar="OPENWORK_WORKSPACE",
        show_default=default is not None,
        help="Workspace folder opencode works in (registered and made active)."
        if default is not None
        else "Also register this folder and make it active (default: none; add workspaces later).",
    )


SIDECAR_FLAGS: tuple[Flag, ...] = (
    Flag(
        name="opencode_bin",
        opts=("--opencode-bin",),
        kind="file",
        envvar="OPENWORK_OPENCODE_BIN",
        help="Run this opencode binary (needs --allow-external). [env OPENWORK_OPENCODE_BIN]",
    ),
    Flag(
        name="opencode_router_bin",
        opts=("--opencode-router-bin",),
        kind="file",
        envvar="OPENWORK_OPENCODE_ROUTER_BIN",
        help="Run this opencode-router binary (needs --allow-external).",
    ),
    Flag(
        name="opencode_source",
        opts=("--opencode-source",),
        kind="choice",
        choices=SOURCES,
        default="auto",
        show_default=True,
        envvar="OPENWORK_OPENCODE_SOURCE",
        help="Where opencode comes from: bundled, the verified download cache, or external (PATH).",
    ),
    Flag(
        name="sidecar_source",
        opts=("--sidecar-source",),
        kind="choice",
        choices=SOURCES,
        default="auto",
        show_default=True,
        envvar="OPENWORK_SIDECAR_SOURCE",
        help="Where the other sidecars (opencode-router) come from.",
    ),
    Flag(
        name="sidecar_dir",
        opts=("--sidecar-dir",),
        kind="dir",
        envvar="OPENWORK_SIDECAR_DIR",
        help="Verified binary cache. [default: <data dir>/sidecars; env OPENWORK_SIDECAR_DIR]",
    ),
    Flag(
        name="sidecar_base_url",
        opts=("--sidecar-base-url",),
        kind="str",
        envvar="OPENWORK_SIDECAR_BASE_URL",
        help="Release host serving openwork-sidecars.json (https://, or http:// on loopback).",
    ),
    Flag(
        name="sidecar_manifest",
        opts=("--sidecar-manifest",),
        kind="file",
        exists=True,
        envvar="OPENWORK_SIDECAR_MANIFEST",
        help="Read the sidecar manifest from this file.",
    ),
    Flag(
        name="allow_external",
        opts=("--allow-external",),
        kind="flag",
        envvar="OPENWORK_ALLOW_EXTERNAL",
        help="Allow binaries openwork did not verify (--*-bin, --*-source external).",
    ),
    Flag(
        name="allow_unverified",
        opts=("--allow-unverified",),
        kind="flag",
        envvar="OPENWORK_ALLOW_UNVERIFIED",
        help="Allow downloading manifest entries that list no sha256.",
    ),
)

_SERVER_OWN_FLAGS: tuple[Flag, ...] = (
    Flag(
        name="data_dir",
        opts=("--data-dir",),
        kind="dir",
        envvar="OPENWORK_DATA_DIR",
        help="State directory (tokens, database, sidecar cache). [env OPENWORK_DATA_DIR]",
    ),
    Flag(
        name="port",
        opts=("--port",),
        kind="int",
        bounds=(0, 65535),
        default=DEFAULT_PORT,
        show_default=True,
        envvar="OPENWORK_PORT",
        help="HTTP port on 127.0.0.1; 0 picks a free one.",
    ),
    Flag(
        name="opencode_port",
        opts=("--opencode-port",),
        kind="int",
        bounds=(0, 65535),
        default=DEFAULT_OPENCODE_PORT,
        show_default=True,
        envvar="OPENWORK_OPENCODE_PORT",
        help="Preferred opencode port; a free one is used if it is taken.",
    ),
    Flag(
        name="log_format",
        opts=("--log-format",),
        kind="choice",
        choices=("pretty", "json"),
        default="pretty",
        envvar="OPENWORK_LOG_FORMAT",
        show_default=True,
        help="Log stream format (stderr).",
    ),
    Flag(
        name="approval_mode",
        opts=("--approval",),
        kind="choice",
        choices=("auto", "manual"),
        default="manual",
        show_default=True,
        envvar="OPENWORK_APPROVAL_MODE",
        help="manual: every file write waits for the host's decision. [env OPENWORK_APPROVAL_MODE]",
    ),
    Flag(
        name="approval_timeout_ms",
        opts=("--approval-timeout-ms",),
        kind="int",
        bounds=(1, 3_600_000),
        default=DEFAULT_APPROVAL_TIMEOUT_MS,
        show_default=True,
        envvar="OPENWORK_APPROVAL_TIMEOUT_MS",
        help="No decision within this long = deny.",
    ),
    Flag(
        name="files_allow_config_write",
        opts=("--files-allow-config-write",),
        kind="flag",
        envvar="OPENWORK_FILES_ALLOW_CONFIG_WRITE",
        help="Let collaborator tokens (and, in manual approval mode, every minted token) change git hooks "
        "and opencode config through file sessions.",
    ),
    Flag(
        name="hot_reload",
        opts=("--opencode-hot-reload",),
        off="--no-opencode-hot-reload",
        kind="switch",
        default=True,
        show_default=True,
        envvar="OPENWORK_OPENCODE_HOT_RELOAD",
        help="Dispose a workspace's opencode instance when its opencode config changes.",
    ),
    Flag(
        name="hot_reload_debounce_ms",
        opts=("--opencode-hot-reload-debounce-ms",),
        kind="int",
        bounds=(0, 60_000),
        default=700,
        show_default=True,
        envvar="OPENWORK_OPENCODE_HOT_RELOAD_DEBOUNCE_MS",
    ),
    Flag(
        name="hot_reload_cooldown_ms",
        opts=("--opencode-hot-reload-cooldown-ms",),
        kind="int",
        bounds=(0, 600_000),
        default=1500,
        show_default=True,
        envvar="OPENWORK_OPENCODE_HOT_RELOAD_COOLDOWN_MS",
    ),
    Flag(
        name="sandbox",
        opts=("--sandbox",),
        kind="choice",
        choices=("none", "auto", "docker", "podman", "container"),
        default="none",
        show_default=True,
        envvar="OPENWORK_SANDBOX",
        help="Run opencode in a container (the workspace stays mounted from the host).",
    ),
    Flag(
        name="sandbox_engine",
        opts=("--sandbox-engine",),
        kind="file",
        envvar="OPENWORK_SANDBOX_ENGINE",
        help="The engine CLI to use (default: found on PATH). Host quirks: OPENWORK_SANDBOX_ENGINE_ARGS.",
    ),
    Flag(
        name="sandbox_image",
        opts=("--sandbox-image",),
        kind="str",
        default=DEFAULT_SANDBOX_IMAGE,
        show_default=True,
        envvar="OPENWORK_SANDBOX_IMAGE",
        help="Image with glibc and a shell; opencode is mounted into it read-only.",
    ),
    Flag(
        name="sandbox_persist_dir",
        opts=("--sandbox-persist-dir",),
        kind="dir",
        envvar="OPENWORK_SANDBOX_PERSIST_DIR",
        help="Mounted at /persist for opencode's state. [default: <data dir>/sandbox-persist]",
    ),
    Flag(
        name="sandbox_mounts",
        opts=("--sandbox-mount",),
        kind="str",
        multiple=True,
        metavar="HOST:NAME[:ro]",
        help="Extra folder at /workspace/extra/NAME, only inside an allowlisted root (repeatable).",
    ),
    Flag(
        name="sandbox_memory",
        opts=("--sandbox-memory",),
        kind="str",
        envvar="OPENWORK_SANDBOX_MEMORY",
        metavar="SIZE",
        help="Memory limit of the container (e.g. 4g, 512m). [default: 4g]",
    ),
    Flag(
        name="sandbox_cpus",
        opts=("--sandbox-cpus",),
        kind="float",
        bounds=(0.01, 1024),
        envvar="OPENWORK_SANDBOX_CPUS",
        help="CPU limit of the container. [default: the host's cores minus one, at least 1]",
    ),
    Flag(
        name="sandbox_network",
        opts=("--sandbox-network",),
        kind="choice",
        choices=("default", "none"),
        default="default",
        show_default=True,
        envvar="OPENWORK_SANDBOX_NETWORK",
        help="The container's network: the engine's default (egress open). `none` is refused for now (see README).",
    ),
    Flag(
        name="router",
        opts=("--opencode-router",),
        off="--no-opencode-router",
        kind="switch",
        help="Run the messaging router (default: env OPENWORK_OPENCODE_ROUTER, the workspace's config, "
        "or only when the router is configured).",
    ),
    Flag(
        name="router_required",
        opts=("--opencode-router-required",),
        kind="flag",
        envvar="OPENWORK_OPENCODE_ROUTER_REQUIRED",
        help="Stop the stack (non-zero exit) when the router fails for good.",
    ),
    Flag(
        name="restart_max_failures",
        opts=("--restart-max-failures",),
        kind="int",
        bounds=(1, 1000),
        default=DEFAULT_MAX_FAILURES,
        show_default=True,
        envvar="OPENWORK_RESTART_MAX_FAILURES",
        help="Consecutive failures before a service is given up on.",
    ),
    Flag(
        name="restart_backoff_ms",
        opts=("--restart-backoff-ms",),
        kind="int",
        bounds=(1, 60_000),
        default=int(DEFAULT_BACKOFF_INITIAL * 1000),
        show_default=True,
        envvar="OPENWORK_RESTART_BACKOFF_MS",
        help="First restart delay; it doubles up to 30 s.",
    ),
    Flag(
        name="run_id",
        opts=("--run-id",),
        kind="str",
        envvar="OPENWORK_RUN_ID",
        help="Name this run in logs (default: random).",
    ),
    Flag(name="json_output", opts=("--json",), kind="flag", help="Print the connect info as one JSON object."),
    Flag(name="verbose", opts=("--verbose", "-v"), kind="flag", help="Debug-level events."),
    Flag(
        name="check", opts=("--check",), kind="flag", help="Start, verify health and an opencode session, stop, exit."
    ),
    Flag(
        name="check_events",
        opts=("--check-events",),
        kind="flag",
        help="With the checks, also read one event of each SSE stream.",
    ),
    Flag(
        name="dev_mode",
        opts=("--dev",),
        kind="flag",
        envvar="OPENWORK_DEV_MODE",
        help="Isolated opencode config/state under the data dir. [env OPENWORK_DEV_MODE=1]",
    ),
)

# In the order `--help` lists them: the sidecar flags, then the server's own.
SERVER_FLAGS: tuple[Flag, ...] = SIDECAR_FLAGS + _SERVER_OWN_FLAGS

# `start` only; `run_server` never sees them.
START_FLAGS: tuple[Flag, ...] = (
    Flag(
        name="no_tui",
        opts=("--no-tui",),
        kind="flag",
        help="Plain log stream in this process instead of the dashboard.",
    ),
    Flag(
        name="detach",
        opts=("--detach",),
        kind="flag",
        help="Start the stack in the background, print the summary, exit 0.",
    ),
    Flag(
        name="timeout",
        opts=("--timeout",),
        kind="float",
        bounds=(1, 900),
        default=60.0,
        show_default=True,
        help="With the dashboard or --detach: seconds to wait for the stack to be healthy.",
    ),
)

# Each serve-like command's options, in `--help` order: what click builds them from and what the early
# reader (cli/early.py) reads, so the two cannot disagree on which options a command has.
SERVE_COMMAND_FLAGS: tuple[Flag, ...] = (workspace_flag(default="."), *SERVER_FLAGS)
START_COMMAND_FLAGS: tuple[Flag, ...] = (*SERVE_COMMAND_FLAGS, *START_FLAGS)
DAEMON_RUN_COMMAND_FLAGS: tuple[Flag, ...] = (workspace_flag(default=None), *SERVER_FLAGS)
