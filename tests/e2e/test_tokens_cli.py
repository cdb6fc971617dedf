"""`openwork tokens` as the host types it, against the real server; the minted token as its holder uses it."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import OPENWORK, ServerProcess

pytestmark = pytest.mark.e2e


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPENWORK, *args], capture_output=True, text=True, timeout=60, env=dict(os.environ))


def ok_json(*args: str) -> Any:
    done = cli(*args, "--json")
    assert done.returncode == 0, (args, done.stderr)
    return json.loads(done.stdout)


def test_host_mints_a_workspace_token_on_the_command_line(
    real_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    server = real_server()
    mine = ok_json("workspace", "list")["items"][0]["id"]
    theirs = ok_json("workspace", "add", str(other))["workspace"]["id"]

    # Plain mode: the token alone on stdout, so $(openwork tokens create ...) works; the rest on stderr.
    done = cli("tokens", "create", "--scope", "viewer", "--workspace", mine, "--label", "phone", "--ttl", "3600")
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert done.stdout == token + "\n" and token.startswith("owt_")
    assert "viewer" in done.stderr and mine in done.stderr and token not in done.stderr

    # The holder sees its workspace only, reads it, and may not manage it.
    with server.client(token) as holder:
        listed = holder.get("/workspaces").json()["data"]
        assert [w["id"] for w in listed["items"]] == [mine]
        assert holder.get(f"/workspaces/{mine}").status_code == 200
        assert holder.get(f"/workspaces/{theirs}").status_code == 404
        assert holder.post(f"/workspaces/{mine}/dispose").status_code == 403
        assert holder.get(f"/workspaces/{mine}/opencode/session").status_code == 200  # proxied reads
    # ... also through the CLI, as another machine would call it.
    seen = ok_json("workspace", "list", "--openwork-url", server.url, "--token", token)
    assert [w["id"] for w in seen["items"]] == [mine]

    # --json: the record and the token; no --workspace = every workspace.
    minted = ok_json("tokens", "create", "--scope", "collaborator")
    assert minted["token"].startswith("owt_") and minted["workspaceIds"] is None and minted["expiresAt"] is None

    # An unknown workspace refuses the mint and stores nothing.
    refused = cli("tokens", "create", "--scope", "viewer", "--workspace", "ws_000000000000")
    assert refused.returncode != 0 and refused.stdout == ""
    assert "ws_000000000000" in refused.stderr and "Traceback" not in refused.stderr

    records = ok_json("tokens", "list")
    assert [(t["scope"], t["workspaceIds"]) for t in records] == [("viewer", [mine]), ("collaborator", None)]
    assert all("token" not in t for t in records)
    listing = cli("tokens", "list")
    assert listing.returncode == 0 and "phone" in listing.stdout and token not in listing.stdout

    # Not the host: refused, with a hint to the host token.
    denied = cli("tokens", "list", "--openwork-url", server.url, "--token", server.info["clientToken"])
    assert denied.returncode != 0 and "host token" in denied.stderr

    viewer_id = records[0]["id"]
    revoked = cli("tokens", "revoke", viewer_id)
    assert revoked.returncode == 0 and viewer_id in revoked.stdout, revoked.stderr
    with server.client(token) as holder:
        assert holder.get("/workspaces").status_code == 401
    assert ok_json("tokens", "revoke", viewer_id)["revokedAt"] is not None  # twice is fine
    assert cli("tokens", "revoke", "tok_missing").returncode != 0
