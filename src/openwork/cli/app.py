"""The ``openwork`` click group: its commands load lazily; they call the server or start it."""

from __future__ import annotations

import click

from openwork import __version__
from openwork.cli.lazy import LazyGroup

__all__ = ["COMMANDS", "SUMMARIES", "cli"]


# name -> "module:attribute"; each command module is imported only when that command runs.
COMMANDS = {
    "serve": "openwork.cli.serve:serve_cmd",
    "start": "openwork.cli.serve:start_cmd",
    "status": "openwork.cli.status:status_cmd",
    "sidecars": "openwork.cli.sidecars:sidecars_group",
    "daemon": "openwork.cli.daemon:daemon_group",
    "workspace": "openwork.cli.workspace:workspace_group",
    "instance": "openwork.cli.workspace:instance_group",
    "files": "openwork.cli.files:files_group",
    "approvals": "openwork.cli.files:approvals_group",
    "dashboard": "openwork.cli.dashboard:dashboard_cmd",
    "runtime": "openwork.cli.runtime:runtime_group",
    "tokens": "openwork.cli.tokens:tokens_group",
    "sandbox": "openwork.cli.sandbox:sandbox_group",
    "doctor": "openwork.cli.doctor:doctor_cmd",
    "diagnose": "openwork.cli.doctor:diagnose_cmd",
    "logs": "openwork.cli.logs:logs_cmd",
}

# What `openwork --help` lists, so listing does not import every command (a test keeps these equal to
# the commands' own first lines).
SUMMARIES = {
    "serve": "Run the OpenWork server and supervise opencode in this process (no dashboard).",
    "start": "Start a workspace: the server, opencode, and (in a terminal) the dashboard.",
    "status": "Report server and opencode health.",
    "sidecars": "The binaries the stack runs, verified into a cache every data dir shares.",
    "daemon": "The OpenWork server in the background, serving every registered workspace.",
    "workspace": "Registered workspace folders (one opencode serves them all, by directory).",
    "instance": "opencode's per-workspace instances.",
    "files": "Remote file access to a workspace through short-lived file sessions.",
    "approvals": "Writes waiting for the host's decision (manual approval mode).",
    "dashboard": "Open the dashboard on a running server (`d` leaves it running, `q` stops it).",
    "runtime": "What the stack runs, and upgrading it (verified first, one service at a time, rolled back on failure).",
    "tokens": "Scoped tokens for other people and devices (host only): create, list, revoke.",
    "sandbox": "The sandboxed opencode's container: its effective privileges, limits and mounts.",
    "doctor": "Check this machine, the data dir and the opencode binary, with a fix for each problem.",
    "diagnose": "Write a support bundle (zip): doctor's checks, versions, settings, recent logs; secrets redacted.",
    "logs": "The unified log of the server and its children, redacted.",
}


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    lazy_summaries=SUMMARIES,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="openwork")
def cli() -> None:
    """OpenWork host runtime: one process that serves the control API and supervises opencode.

    \b
    Start a workspace:     openwork start --workspace ./my-project
    Headless / in scripts: openwork serve --workspace ./my-project --port 0 --json
    Check a running one:   openwork status
    """
