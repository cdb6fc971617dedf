"""How the CLI prints: data as JSON with ``--json``, errors as one clear line and an exit code."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from openwork.errors import OpenworkError

__all__ = ["emit", "fail", "run_cli"]


def emit(data: Any, *, as_json: bool, text: str | None = None) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=None, default=str))
    elif text is not None:
        click.echo(text)


def fail(exc: OpenworkError) -> None:
    click.echo(f"error: {exc.message}", err=True)
    if exc.hint:
        click.echo(f"hint: {exc.hint}", err=True)


def run_cli(group: click.Group) -> None:
    """Run the click group, mapping our error tree to messages and exit codes (no tracebacks)."""
    try:
        rv = group.main(standalone_mode=False)
    except OpenworkError as exc:
        fail(exc)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    if isinstance(rv, int):
        sys.exit(rv)
