"""The ``openwork`` command line: click commands (``openwork.cli.app``), loaded lazily."""

from __future__ import annotations

import sys

__all__ = ["main"]

_EXIT_INTERRUPTED = 130


def main() -> None:
    from openwork.cli.app import cli
    from openwork.cli.output import run_cli

    try:
        run_cli(cli)  # maps errors and Ctrl+C itself
    except KeyboardInterrupt:
        print("aborted", file=sys.stderr)
        sys.exit(_EXIT_INTERRUPTED)
