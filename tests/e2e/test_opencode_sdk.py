"""The official opencode JS SDK (npm ``@opencode-ai/sdk``, pinned) through our proxy, against the real opencode:
sessions, files, events and a terminal over the WebSocket with the client token; a viewer token only reads.
Plus what a browser does first: a CORS preflight from an allowed origin works, from another it is refused."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import ServerProcess, npm_install

pytestmark = pytest.mark.e2e

SDK_VERSION = "1.18.33"  # the opencode version openwork-py pins
# Read at import, before a test points HOME at its temp dir: one install per machine, reused by later runs.
SDK_CACHE = Path.home() / ".cache" / "openwork-tests" / f"sdk-{SDK_VERSION}"
DRIVER = Path(__file__).parents[1] / "fixtures" / "sdk" / "drive.mjs"
APP_ORIGIN = "https://app.example"
DRIVE_TIMEOUT = 120
READS = ["session.list", "session.get", "v2.session.list", "file.list", "file.read", "event.subscribe"]
WRITES = ["session.create", "session.update", "session.delete", "pty.create", "pty.connect"]


@pytest.fixture(scope="session")
def sdk_dir(npm_cache: Path) -> Path:
    """``npm install`` of the pinned SDK (npm checks the registry's integrity hash), once per machine."""
    if not (SDK_CACHE / "node_modules" / "@opencode-ai" / "sdk" / "package.json").is_file():
        npm_install(SDK_CACHE, [f"@opencode-ai/sdk@{SDK_VERSION}"], npm_cache)
    installed = json.loads((SDK_CACHE / "node_modules/@opencode-ai/sdk/package.json").read_text())
    assert installed["version"] == SDK_VERSION
    return SDK_CACHE


def drive(
    sdk: Path, server: ServerProcess, ws: dict[str, Any], token: str, session: str, *, writes: bool
) -> dict[str, Any]:
    node = shutil.which("node")
    assert node, "node is required for the SDK test"
    env = {
        **os.environ,
        "SDK_DIR": str(sdk),
        "BASE": f"{server.url}/workspaces/{ws['id']}/opencode",
        "TOKEN": token,
        "DIRECTORY": ws["path"],
        "SESSION": session,
        "WRITES": "1" if writes else "0",
    }
    done = subprocess.run(
        [node, "--experimental-websocket", str(DRIVER)],
        capture_output=True,
        text=True,
        timeout=DRIVE_TIMEOUT,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return {r["step"]: r for r in map(json.loads, done.stdout.splitlines())}


def test_the_official_sdk_through_the_proxy(
    real_server: Callable[..., ServerProcess], sdk_dir: Path, workspace: Path
) -> None:
    (workspace / "hello.txt").write_text("hello\n")
    server = real_server("--approval", "auto", "--cors", APP_ORIGIN)
    host = {"x-openwork-host-token": server.info["hostToken"]}
    with server.client() as client:
        ws = client.get("/workspaces").json()["data"]["items"][0]
        session = client.post(f"/workspaces/{ws['id']}/opencode/session", json={}).json()["id"]
        viewer = client.post("/tokens", json={"scope": "viewer"}, headers=host).json()["data"]["token"]

    full = drive(sdk_dir, server, ws, server.info["clientToken"], session, writes=True)
    assert [s for s in READS + WRITES if not full[s]["ok"]] == [], full
    reads = drive(sdk_dir, server, ws, viewer, session, writes=False)
    assert all(reads[s]["ok"] for s in READS), reads
    for step in ("session.create", "pty.create"):  # a viewer's writes are refused by the proxy
        assert not reads[step]["ok"] and reads[step]["status"] == 403, reads[step]

    # A browser page on an allowed origin: preflight, then the request; another origin is refused.
    proxied = f"{server.url}/workspaces/{ws['id']}/opencode/session"
    preflight = {
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type",
    }
    with httpx.Client(timeout=30, trust_env=False) as browser:
        ok = browser.options(proxied, headers={"origin": APP_ORIGIN, **preflight})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == APP_ORIGIN
        made = browser.post(
            proxied,
            json={},
            headers={"origin": APP_ORIGIN, "authorization": f"Bearer {server.info['clientToken']}"},
        )
        assert made.status_code == 200 and made.headers["access-control-allow-origin"] == APP_ORIGIN
        refused = browser.options(proxied, headers={"origin": "https://evil.example", **preflight})
        assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
        evil = browser.post(
            proxied,
            json={},
            headers={"origin": "https://evil.example", "authorization": f"Bearer {server.info['clientToken']}"},
        )
        assert evil.status_code == 403 and "access-control-allow-origin" not in evil.headers
