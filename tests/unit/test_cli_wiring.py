"""The lazy command table: every entry loads a click command, and `serve` loads nothing else."""

from __future__ import annotations

import subprocess
import sys

import click
from click.testing import CliRunner

from openwork.cli import COMMANDS, cli


def test_every_lazy_command_resolves_and_has_help() -> None:
    runner = CliRunner()
    for name in COMMANDS:
        command = cli.get_command(click.Context(cli), name)
        assert isinstance(command, click.Command), name
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Usage:" in result.output
    listing = runner.invoke(cli, ["--help"]).output
    assert all(name in listing for name in COMMANDS)


def test_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["no-such-command"])
    assert result.exit_code == 2
    assert "No such command" in result.output


def test_serve_path_does_not_import_http_stack_or_other_commands() -> None:
    # What `openwork serve` imports before it spawns opencode; the HTTP stack loads while opencode boots.
    code = (
        "import sys, click; from openwork.cli import cli; cli.get_command(click.Context(cli), 'serve');"
        "import openwork.server;"
        "print(','.join(m for m in ('fastapi', 'uvicorn', 'httpx', 'rich', 'openwork.cli.status',"
        " 'openwork.cli.sidecars') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)
    assert out.stdout.strip() == ""
