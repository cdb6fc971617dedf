"""The sidecar bar: the real opencode package through the npm client, then served from the verified cache."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from openwork.sidecars.components import OPENCODE_VERSION
from openwork.sidecars.targets import current_target
from tests.helpers import OPENWORK, ServerProcess

pytestmark = pytest.mark.e2e


def opencode_path(sidecars: Path) -> Path:
    return sidecars / "opencode" / OPENCODE_VERSION / current_target() / "opencode"


def test_fetch_through_npm_then_serve_the_cached_binary(
    tmp_path: Path, npm_cache: Path, serve: list[ServerProcess]
) -> None:
    """`openwork sidecars fetch opencode --json` against the npm registry npm is configured with."""
    env = {**os.environ, "npm_config_cache": str(npm_cache)}
    sidecars = tmp_path / "sc"
    done = subprocess.run(
        [*OPENWORK, "sidecars", "fetch", "opencode", "--sidecar-dir", str(sidecars), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["source"] == "downloaded"
    assert info["version"] == OPENCODE_VERSION
    assert info["path"] == str(opencode_path(sidecars))
    assert info["sha256"] == hashlib.sha256(Path(info["path"]).read_bytes()).hexdigest()
    origin = json.loads((opencode_path(sidecars).parent / "origin.json").read_text())
    assert origin["package"] == f"opencode-{current_target()}" and origin["reportedVersion"] == OPENCODE_VERSION

    # ...and `openwork serve` runs that verified binary (no --allow-external, no --opencode-bin).
    workspace = tmp_path / "ws"
    workspace.mkdir()
    args = ["--workspace", str(workspace), "--port", "0", "--opencode-port", "0", "--sidecar-dir", str(sidecars)]
    server = ServerProcess(args, env=env)
    serve.append(server)
    server.start(log_file=tmp_path / "serve.log")
    with server.client() as client:
        health = client.get("/system/opencode/health").json()["data"]
    binary = health["binary"]
    assert binary["path"] == info["path"] and binary["sha256"] == info["sha256"]
    assert binary["source"] == "downloaded" and binary["version"] == OPENCODE_VERSION
    assert health["version"] == OPENCODE_VERSION
