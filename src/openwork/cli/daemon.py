"""``openwork daemon start|stop|status|run``: the server in the background."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from openwork.cli.options import (
    allow_external_option,
    daemon_host_option,
    daemon_port_option,
    data_dir_option,
    json_option,
    opencode_bin_option,
)
from openwork.cli.output import emit
from openwork.paths import DataDir

__all__ = ["daemon_group"]


def _root(data_dir: Path | None) -> Path:
    return DataDir.at(data_dir).root


class _DaemonGroup(click.Group):
    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name == "run" and "run" not in self.commands:
            from openwork.cli.serve import daemon_run_cmd

            self.add_command(daemon_run_cmd, "run")
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), "run"})


@click.group("daemon", cls=_DaemonGroup)
def daemon_group() -> None:
    """The OpenWork server in the background, serving every registered workspace.

    \b
    openwork daemon start     start it (or reuse a healthy one), wait until healthy
    openwork daemon status    is it running and healthy? (exit 0 yes, 1 no)
    openwork daemon stop      stop it and opencode, in order
    """


@daemon_group.command("start")
@daemon_host_option
@daemon_port_option
@click.option("--timeout", type=click.FloatRange(1, 600), default=10.0, show_default=True, help="Seconds to wait.")
@allow_external_option
@opencode_bin_option
@data_dir_option
@json_option
def start_cmd(
    port: int, timeout: float, allow_external: bool, opencode_bin: Path | None, data_dir: Path | None, json_output: bool
) -> None:
    """Start the daemon detached (log in <data dir>/logs/daemon.log) and wait until it is healthy."""
    from openwork.cli.daemonctl import start_daemon

    if data_dir is None:  # the default: openwork-py's old one moves there once (see lifecycle.datamove)
        from openwork.lifecycle.datamove import migrate_old_default

        migrate_old_default(_root(None))
    extra = ["--allow-external"] if allow_external else []
    if opencode_bin is not None:
        extra += ["--opencode-bin", str(opencode_bin.expanduser().absolute())]
    info = start_daemon(_root(data_dir), port=port, extra_args=extra, timeout=timeout, quiet=json_output)
    verb = "already running" if info["reused"] else "started"
    emit(info, as_json=json_output, text=f"daemon {verb}: {info['url']} (pid {info['pid']})\n  log: {info['logFile']}")


@daemon_group.command("status")
@data_dir_option
@json_option
def status_cmd(data_dir: Path | None, json_output: bool) -> None:
    """Exit 0 when the daemon runs and is healthy, 1 otherwise."""
    from openwork.cli.daemonctl import daemon_status

    info = daemon_status(_root(data_dir))
    if info["running"]:
        text = f"daemon running: {info['url']} (pid {info['pid']}, {'healthy' if info['healthy'] else 'not healthy'})"
    else:
        text = "daemon not running"
    emit(info, as_json=json_output, text=text)
    sys.exit(0 if info["healthy"] else 1)


@daemon_group.command("stop")
@data_dir_option
@json_option
def stop_cmd(data_dir: Path | None, json_output: bool) -> None:
    """Stop the daemon (it stops opencode first). Not running is not an error."""
    from openwork.cli.daemonctl import stop_daemon

    info = stop_daemon(_root(data_dir))
    emit(
        info,
        as_json=json_output,
        text=f"daemon stopped (pid {info['pid']})" if info["stopped"] else "daemon not running",
    )
