"""The ``openwork`` command line: click commands only; they call the server or start it."""

from __future__ import annotations

import click

from openwork import __version__
from openwork.cli.output import run_cli
from openwork.cli.serve import serve_cmd, start_cmd
from openwork.cli.sidecars import sidecars_group
from openwork.cli.status import status_cmd

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="openwork")
def cli() -> None:
    """OpenWork host runtime: one process that serves the control API and supervises opencode.

    \b
    Start a workspace:     openwork start --workspace ./my-project
    Headless / in scripts: openwork serve --workspace ./my-project --port 0 --json
    Check a running one:   openwork status
    """


cli.add_command(serve_cmd)
cli.add_command(start_cmd)
cli.add_command(status_cmd)
cli.add_command(sidecars_group)


def main() -> None:
    run_cli(cli)
