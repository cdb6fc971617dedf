"""The original CLI's flags (npm ``openwork-orchestrator`` 0.18.1, ``openwork --help``), so that one we do
not take is refused by name, with where to read why, instead of click's bare "No such option"."""

from __future__ import annotations

import click

__all__ = ["ORIGINAL_FLAGS", "unsupported"]

ORIGINAL_FLAGS = frozenset(
    {
        "--workspace", "--data-dir", "--daemon-host", "--daemon-port", "--opencode-bin", "--opencode-host",
        "--opencode-port", "--opencode-workdir", "--opencode-log-level", "--opencode-auth", "--opencode-hot-reload",
        "--opencode-hot-reload-debounce-ms", "--opencode-hot-reload-cooldown-ms", "--opencode-username",
        "--opencode-password", "--openwork-host", "--openwork-port", "--remote-access", "--openwork-token",
        "--openwork-host-token", "--workspace-id", "--session-id", "--path", "--paths", "--ttl-seconds",
        "--content", "--content-base64", "--file", "--if-match", "--from", "--to", "--write", "--force",
        "--recursive", "--approval", "--approval-timeout", "--read-only", "--cors", "--connect-host",
        "--openwork-server-bin", "--allow-external", "--sidecar-dir", "--sidecar-base-url", "--sidecar-manifest",
        "--sidecar-source", "--opencode-source", "--check", "--check-events", "--tui", "--no-tui", "--detach",
        "--sandbox", "--sandbox-image", "--sandbox-persist-dir", "--sandbox-mount", "--json", "--verbose",
        "--log-format", "--color", "--no-color", "--run-id", "--opencode-url", "--openwork-url", "--host-token",
        "--name", "--allow", "--deny", "--directory", "--base-url",
    }
)  # fmt: skip


def unsupported(exc: click.NoSuchOption) -> click.UsageError | None:
    """The error to show instead of ``exc`` when the unknown option is one of the original's."""
    name = exc.option_name.split("=", 1)[0]
    if name not in ORIGINAL_FLAGS:
        return None
    return click.UsageError(
        f"not supported by openwork-py: {name} (see README, Switching from the original)", ctx=exc.ctx
    )
