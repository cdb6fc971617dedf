"""The lazy command table: every entry loads a click command, and `serve` loads nothing else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from openwork.cli.app import COMMANDS, SUMMARIES, cli


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


def test_listed_summaries_are_the_commands_own_and_listing_imports_none() -> None:
    assert SUMMARIES.keys() == COMMANDS.keys()
    for name in COMMANDS:
        command = cli.get_command(click.Context(cli), name)
        assert command is not None
        assert SUMMARIES[name] == command.get_short_help_str(limit=1000), name
    code = (
        "import sys; from click.testing import CliRunner; from openwork.cli.app import cli;"
        "out = CliRunner().invoke(cli, ['--help']).output; assert 'workspace' in out and 'serve' in out, out;"
        "print(','.join(m for m in sys.modules if m.startswith('openwork.cli.') and m not in"
        " ('openwork.cli.app', 'openwork.cli.lazy', 'openwork.cli.output')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == ""


def test_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["no-such-command"])
    assert result.exit_code == 2
    assert "No such command" in result.output


def test_serve_path_does_not_import_http_stack_or_other_commands() -> None:
    # What `openwork serve` imports before it spawns opencode; the HTTP stack loads (in a thread) while
    # opencode boots.
    code = (
        "import sys, click; from openwork.cli.app import cli; cli.get_command(click.Context(cli), 'serve');"
        "import openwork.cli.serveconfig, openwork.lifecycle.launch, openwork.lifecycle.server;"
        "print(','.join(m for m in ('fastapi', 'uvicorn', 'starlette', 'openwork.api', 'openwork.cli.status',"
        " 'openwork.cli.sidecars') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)
    assert out.stdout.strip() == ""


def test_daemon_argv_reproduces_start_flags(tmp_path: Path) -> None:
    from openwork.cli.dashboard import daemon_argv
    from openwork.cli.serve import start_cmd

    ctx = start_cmd.make_context(
        "start",
        [
            "--workspace",
            str(tmp_path),
            "--no-opencode-router",
            "--sandbox-mount",
            "/a:x",
            "--sandbox-mount",
            "/b:y",
            "--approval",
            "auto",
            "--port",
            "0",
            "--detach",
        ],
    )
    argv = daemon_argv(start_cmd, dict(ctx.params))
    assert argv[:2] == ["--workspace", str(tmp_path.resolve())]
    assert "--no-opencode-router" in argv and "--detach" not in argv and "--port" not in argv
    assert argv[argv.index("--approval") + 1] == "auto"
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--sandbox-mount"] == ["/a:x", "/b:y"]
    plain = daemon_argv(start_cmd, dict(start_cmd.make_context("start", []).params))
    assert plain == ["--workspace", str(Path(".").resolve())]  # defaults are not repeated


def test_the_originals_flags_are_aliases_or_refused_by_name() -> None:
    runner = CliRunner()
    help_text = runner.invoke(cli, ["daemon", "start", "--help"]).output
    assert "--daemon-port" in help_text and "--daemon-host" in help_text
    for argv in (
        ["daemon", "run", "--help"],
        ["files", "session", "create", "--help"],
        ["files", "session", "renew", "--help"],
        ["files", "catalog", "--help"],
    ):
        result = runner.invoke(cli, argv)
        assert result.exit_code == 0, result.output
    assert "--ttl-seconds" in runner.invoke(cli, ["files", "session", "create", "--help"]).output
    assert "--openwork-token" in runner.invoke(cli, ["files", "catalog", "--help"]).output
    refused = runner.invoke(cli, ["serve", "--remote-access"])
    assert refused.exit_code == 2
    assert "not supported by openwork-py: --remote-access (see README, Switching from the original)" in refused.output
    unknown = runner.invoke(cli, ["serve", "--no-such-flag"])
    assert unknown.exit_code == 2 and "No such option" in unknown.output
    far = runner.invoke(cli, ["daemon", "start", "--daemon-host", "0.0.0.0"])
    assert far.exit_code == 2 and "loopback only" in far.output
