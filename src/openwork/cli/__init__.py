"""The ``openwork`` command line. The commands are click (``openwork.cli.app``); this entry point first
lets ``openwork.cli.early`` start opencode for a ``serve``-like command line before click is imported."""

from __future__ import annotations

import os
import sys

__all__ = ["main"]


def main() -> None:
    from openwork.cli import early

    early.speculate(sys.argv[1:], os.environ)
    try:
        from openwork.cli.app import cli
        from openwork.cli.output import run_cli

        run_cli(cli)
    finally:
        early.discard()
