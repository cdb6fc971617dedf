"""The ``openwork`` command line. The commands are click (``openwork.cli.app``); this entry point first
lets ``openwork.cli.early`` start opencode for a ``serve``-like command line before click is imported."""

from __future__ import annotations

import os
import sys

__all__ = ["main"]

_EXIT_INTERRUPTED = 130


def main() -> None:
    from openwork.cli import early

    try:
        early.speculate(sys.argv[1:], os.environ)
        from openwork.cli.app import cli
        from openwork.cli.output import run_cli

        run_cli(cli)  # maps errors and Ctrl+C itself; the early start may still be downloading opencode
    except KeyboardInterrupt:
        print("aborted", file=sys.stderr)
        sys.exit(_EXIT_INTERRUPTED)
    finally:
        early.discard()
