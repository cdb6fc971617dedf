"""File sessions and approvals through the real server and the CLI, as a remote user and the host would."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import OPENWORK, ServerProcess, wait_for

pytestmark = pytest.mark.e2e


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPENWORK, *args], capture_output=True, text=True, timeout=60, env=dict(os.environ))


def ok_json(*args: str) -> dict[str, object]:
    done = cli(*args, "--json")
    assert done.returncode == 0, (args, done.stderr)
    data = json.loads(done.stdout)
    assert isinstance(data, dict)
    return data


def workspace_id() -> str:
    items = ok_json("workspace", "list")["items"]
    assert isinstance(items, list)
    return str(items[0]["id"])


def test_manual_approval_through_the_cli(real_server: Callable[..., ServerProcess], workspace: Path) -> None:
    real_server("--approval", "manual", "--approval-timeout-ms", "30000")
    sid = ok_json("files", "session", "create", "--workspace-id", workspace_id(), "--write")["session"]["id"]  # type: ignore[index]

    writer = subprocess.Popen(
        [*OPENWORK, "files", "write", sid, "--path", "notes/a.md", "--content", "hello from afar"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pending = wait_for(lambda: ok_json("approvals", "list")["items"], timeout=20, what="a pending approval")
    assert pending[0]["paths"] == [{"path": "notes/a.md", "size": 15}]  # type: ignore[index]
    assert not (workspace / "notes").exists()
    listing = cli("approvals", "list")
    assert "notes/a.md" in listing.stdout
    ok_json("approvals", "reply", pending[0]["id"], "--allow")  # type: ignore[index]
    _, err = writer.communicate(timeout=30)
    assert writer.returncode == 0, err
    assert (workspace / "notes" / "a.md").read_text() == "hello from afar"

    read = cli("files", "read", sid, "--paths", "notes/a.md")
    assert read.returncode == 0 and read.stdout == "hello from afar\n"
    catalog = ok_json("files", "catalog", sid)
    assert "notes/a.md" in [i["path"] for i in catalog["items"]]  # type: ignore[attr-defined]
    events = ok_json("files", "events", sid, "--since", "0")
    assert "notes/a.md" in [c["path"] for c in events["items"]]  # type: ignore[attr-defined]

    denied = subprocess.Popen(
        [*OPENWORK, "files", "write", sid, "--path", "notes/b.md", "--content", "no"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    second = wait_for(lambda: ok_json("approvals", "list")["items"], timeout=20, what="the second approval")
    ok_json("approvals", "reply", second[0]["id"], "--deny")  # type: ignore[index]
    _, err = denied.communicate(timeout=30)
    assert denied.returncode != 0 and "write not approved: denied by the host" in err
    assert not (workspace / "notes" / "b.md").exists()

    ok_json("files", "session", "close", sid)
    gone = cli("files", "read", sid, "--paths", "notes/a.md")
    assert gone.returncode != 0 and "no such file session" in gone.stderr


def test_operations_and_conflicts_in_auto_mode(real_server: Callable[..., ServerProcess], workspace: Path) -> None:
    real_server("--approval", "auto")
    sid = ok_json("files", "session", "create", "--workspace-id", workspace_id(), "--write")["session"]["id"]  # type: ignore[index]
    first = ok_json("files", "write", sid, "--path", "a.txt", "--content", "1")
    revision = first["items"][0]["revision"]  # type: ignore[index]
    ok_json("files", "write", sid, "--path", "a.txt", "--content", "2", "--if-match", revision)
    stale = cli("files", "write", sid, "--path", "a.txt", "--content", "3", "--if-match", revision)
    assert stale.returncode == 1 and "conflict" in stale.stdout
    assert (workspace / "a.txt").read_text() == "2"
    ok_json("files", "mkdir", sid, "dir/sub")
    ok_json("files", "rename", sid, "a.txt", "dir/sub/a.txt")
    assert (workspace / "dir/sub/a.txt").read_text() == "2"
    not_empty = cli("files", "delete", sid, "dir")
    assert not_empty.returncode == 1 and "not empty" in not_empty.stdout
    ok_json("files", "delete", sid, "dir", "--recursive")
    assert not (workspace / "dir").exists()
    hostile = cli("files", "write", sid, "--path", "../escape.txt", "--content", "x")
    assert hostile.returncode == 1 and "'..'" in hostile.stdout
    assert not (workspace.parent / "escape.txt").exists()
    read_only = ok_json("files", "session", "create", "--workspace-id", workspace_id())["session"]["id"]  # type: ignore[index]
    refused = cli("files", "write", read_only, "--path", "x.txt", "--content", "x")
    assert refused.returncode != 0 and "read-only" in refused.stderr
