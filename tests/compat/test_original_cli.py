"""The original CLI (npm ``openwork-orchestrator`` 0.18.1, its native binary) against our server, unchanged:
every client command it has, each checked by its effect on disk or in our registry, not only its exit code."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.compat.original import Original, original_binary
from tests.helpers import ServerProcess, serve_args, wait_for

pytestmark = pytest.mark.e2e

APPROVAL_WAIT = 30.0  # a write shows in `approvals list` well within this
REMOTE = "http://remote.example:4096"


@pytest.fixture(scope="session")
def original_bin(npm_cache: Path) -> Path:
    return original_binary(npm_cache)


def daemon_id(key: str) -> str:
    """The original daemon's id for a folder path or a remote key."""
    return "ws-" + hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:12]


def our_id(path: Path) -> str:
    return "ws_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]


def host_client(server: ServerProcess) -> httpx.Client:
    return server.client(server.info["hostToken"])


def registry(server: ServerProcess) -> dict[str, Any]:
    with host_client(server) as client:
        data: dict[str, Any] = client.get("/workspaces").raise_for_status().json()["data"]
    return data


def decided(orig: Original, server: ServerProcess, proc: subprocess.Popen[str], decision: str) -> tuple[int, str]:
    """Answer the write ``proc`` waits on with the original's ``approvals`` commands; its exit code and output."""
    creds = ["--openwork-url", server.url, "--host-token", server.info["hostToken"]]

    def pending() -> list[dict[str, Any]]:
        done = orig.run("approvals", "list", *creds)
        assert done.returncode == 0, done.stderr
        items: list[dict[str, Any]] = json.loads(done.stdout)["data"]["items"]
        return items

    items = wait_for(pending, timeout=APPROVAL_WAIT, what="a pending approval")
    replied = orig.run("approvals", "reply", items[0]["id"], decision, *creds)
    assert replied.returncode == 0, replied.stderr
    out, err = proc.communicate(timeout=APPROVAL_WAIT)
    return proc.returncode, out + err


def test_files_and_approvals(original_bin: Path, real_server: Any, workspace: Path, tmp_path: Path) -> None:
    server: ServerProcess = real_server("--approval", "manual")
    orig = Original(original_bin, dict(os.environ))
    creds = ["--openwork-url", server.url, "--openwork-token", server.info["clientToken"]]

    status = orig.run("status", "--openwork-url", server.url)
    assert f"OpenWork server: ok ({server.url})" in status.stdout, status.stdout + status.stderr

    session = orig.json("files", "session", "create", "--workspace-id", our_id(workspace), *creds)["session"]
    assert session["canWrite"] is True and session["workspaceId"] == our_id(workspace)
    sid = ["--session-id", session["id"]]

    code, out = decided(
        orig, server, orig.popen("files", "write", *sid, "--path", "a.txt", "--content", "hello", *creds), "--allow"
    )
    assert code == 0, out
    assert (workspace / "a.txt").read_text() == "hello"
    code, out = decided(
        orig, server, orig.popen("files", "write", *sid, "--path", "no.txt", "--content", "x", *creds), "--deny"
    )
    assert code == 1 and "HTTP 403" in out, out
    assert not (workspace / "no.txt").exists()
    encoded = base64.b64encode(b"\x00\x01binary").decode()
    write = orig.popen("files", "write", *sid, "--path", "bin.dat", "--content-base64", encoded, *creds)
    assert decided(orig, server, write, "--allow")[0] == 0
    assert (workspace / "bin.dat").read_bytes() == b"\x00\x01binary"

    assert decided(orig, server, orig.popen("files", "mkdir", *sid, "--path", "d", *creds), "--allow")[0] == 0
    assert (workspace / "d").is_dir()
    rename = orig.popen("files", "rename", *sid, "--from", "a.txt", "--to", "d/b.txt", *creds)
    assert decided(orig, server, rename, "--allow")[0] == 0
    assert (workspace / "d" / "b.txt").read_text() == "hello" and not (workspace / "a.txt").exists()

    catalog = orig.json("files", "catalog", *sid, *creds)
    kinds = {item["path"]: item["kind"] for item in catalog["items"]}
    assert kinds["d"] == "dir" and kinds["d/b.txt"] == "file"  # folders are listed, as the original server did
    events = orig.json("files", "events", *sid, *creds)
    seen = {(item["kind"], item["path"]) for item in events["items"]}
    # a rename is journalled as the delete of its source and the write of its target
    assert {("write", "bin.dat"), ("mkdir", "d"), ("delete", "a.txt"), ("write", "d/b.txt")} <= seen, seen
    assert all(isinstance(item["at"], int) for item in events["items"])  # integer milliseconds
    read = orig.json("files", "read", *sid, "--paths", "d/b.txt", *creds)
    assert base64.b64decode(read["items"][0]["contentBase64"]) == b"hello"

    delete = orig.popen("files", "delete", *sid, "--path", "d", "--recursive", *creds)
    assert decided(orig, server, delete, "--allow")[0] == 0
    assert not (workspace / "d").exists()

    renewed = orig.json("files", "session", "renew", *sid, "--ttl-seconds", "120", *creds)["session"]
    assert abs(renewed["expiresAt"] - (time.time() + 120) * 1000) < 30_000
    assert orig.run("files", "session", "close", *sid, *creds).returncode == 0
    gone = orig.run("files", "catalog", *sid, *creds)
    # The original prints the server's top-level message after the status.
    assert gone.returncode == 1 and "HTTP 404 no such file session" in gone.stderr, gone.stderr


@pytest.fixture
def native_env(tmp_path: Path) -> dict[str, str]:
    """No OPENWORK_DATA_DIR: a data dir comes from --data-dir, or from HOME (a temp dir) by default."""
    env = {k: v for k, v in os.environ.items() if k != "OPENWORK_DATA_DIR"}
    env["HOME"] = str(tmp_path / "home")
    return env


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    servers: list[ServerProcess] = []
    yield servers
    for server in servers:
        server.stop()


@pytest.mark.parametrize("explicit", [True, False], ids=["data-dir", "default-data-dir"])
def test_workspace_instance_and_daemon_commands(
    explicit: bool,
    original_bin: Path,
    opencode_bin: Path,
    workspace: Path,
    tmp_path: Path,
    native_env: dict[str, str],
    started: list[ServerProcess],
) -> None:
    data = tmp_path / "state" if explicit else tmp_path / "home" / ".openwork" / "openwork-orchestrator"
    given = ["--data-dir", str(data)] if explicit else []
    server = ServerProcess(serve_args(workspace, opencode_bin, *given), env=native_env)
    started.append(server)
    server.start(log_file=tmp_path / "server.log")
    orig = Original(original_bin, native_env)
    state = json.loads((data / "openwork-orchestrator-state.json").read_text())
    assert state["daemon"]["pid"] == server.proc.pid and state["daemon"]["baseUrl"] == server.url  # type: ignore[union-attr]
    assert state["cliVersion"].startswith("openwork-py/") and state["activeId"] == daemon_id(str(workspace))

    second = tmp_path / "second"
    second.mkdir()
    added = orig.json("workspace", "add", str(second), "--name", "second", *given)["workspace"]
    assert added["id"] == daemon_id(str(second)) and isinstance(added["createdAt"], int)
    assert any(w["path"] == str(second) and w["id"] == our_id(second) for w in registry(server)["items"])
    far = orig.json("workspace", "add-remote", REMOTE, "--directory", "/srv/x", "--name", "far", *given)["workspace"]
    assert far["id"] == daemon_id(f"{REMOTE}::/srv/x") and far["workspaceType"] == "remote"
    assert any(w["workspaceType"] == "remote" and w["baseUrl"] == REMOTE for w in registry(server)["items"])

    listed = orig.json("workspace", "list", *given)
    assert [w["id"] for w in listed["workspaces"]] == [daemon_id(str(workspace)), added["id"], far["id"]]
    assert listed["activeId"] == daemon_id(str(workspace))
    for ref in (added["id"], our_id(second), "second", str(second)):
        assert orig.json("workspace", "info", ref, *given)["workspace"]["id"] == added["id"], ref
    assert orig.json("workspace", "path", "second", *given)["path"]["directory"] == str(second)

    assert orig.json("workspace", "switch", str(second), *given)["activeId"] == added["id"]
    assert registry(server)["activeId"] == our_id(second)
    assert orig.json("instance", "dispose", added["id"], *given)["disposed"] is True
    refused = orig.run("workspace", "switch", "far", *given)
    assert refused.returncode == 1 and "HTTP 409 remote workspaces are not served yet" in refused.stderr

    status = orig.json("daemon", "status", *given)
    assert status["baseUrl"] == server.url and status["daemon"]["pid"] == server.proc.pid  # type: ignore[union-attr]
    assert status["workspaceCount"] == 3 and status["activeId"] == added["id"]
    assert orig.json("daemon", "stop", *given) == {"ok": True}
    assert server.wait(timeout=30) == 0
    after = json.loads((data / "openwork-orchestrator-state.json").read_text())
    assert "daemon" not in after and "opencode" not in after  # as the original leaves it on exit
    assert [w["id"] for w in after["workspaces"]] == [w["id"] for w in listed["workspaces"]]
    stopped = orig.run("daemon", "status", *given)
    assert stopped.returncode == 1 and "orchestrator daemon is not running" in stopped.stderr
