"""Rolling upgrade of the real opencode: to a real older release from npm, and to a broken build (rollback)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from openwork.sidecars.components import OPENCODE_VERSION
from openwork.sidecars.targets import current_target
from tests.helpers import OPENWORK, ServerProcess, wait_for
from tests.releasehost import ReleaseHost, Route

pytestmark = pytest.mark.e2e

OLDER = "1.18.32"  # the release before the pinned one, from the npm registry
BROKEN = b'#!/bin/sh\nif [ "$1" = "--version" ]; then echo 9.9.9; exit 0; fi\necho "broken build" >&2\nexit 1\n'


@pytest.fixture
def host() -> Iterator[ReleaseHost]:
    server = ReleaseHost().start()
    yield server
    server.stop()


def host_client(server: ServerProcess) -> httpx.Client:
    headers = {"x-openwork-host-token": server.info["hostToken"]}
    return httpx.Client(base_url=server.url, headers=headers, timeout=30, trust_env=False)


def finished(client: httpx.Client) -> dict[str, Any] | None:
    upgrade = client.get("/system/runtime/summary").json()["data"]["upgrade"]
    return upgrade if upgrade["state"] in ("completed", "failed") else None


def test_broken_build_rolls_back_and_a_second_upgrade_is_409(
    real_server: Callable[..., ServerProcess], host: ReleaseHost, tmp_path: Path
) -> None:
    host.routes["/opencode"] = Route(BROKEN)
    manifest = tmp_path / "manifest.json"
    artifact = {"url": f"{host.url}/opencode", "sha256": hashlib.sha256(BROKEN).hexdigest(), "size": len(BROKEN)}
    manifest.write_text(
        json.dumps(
            {
                "schemaVersion": 1,
                "components": {"opencode": {"version": "9.9.9", "targets": {current_target(): artifact}}},
            }
        )
    )
    server = real_server("--sidecar-manifest", str(manifest))
    with host_client(server) as client:
        before = client.get("/system/runtime/summary").json()["data"]["services"][0]
        r = client.post("/system/runtime/upgrade", json={"opencodeVersion": "9.9.9"})
        assert r.status_code == 202 and r.json()["data"]["upgrade"]["state"] == "running"
        again = client.post("/runtime/upgrade", json={"opencodeVersion": "9.9.9"})  # the legacy alias
        assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
        outcome = wait_for(lambda: finished(client), timeout=90, what="the upgrade to finish")
        assert outcome["state"] == "failed" and "did not come up" in outcome["error"]
        assert any(step.startswith("rolling opencode back") for step in outcome["steps"])
        after = client.get("/system/runtime/summary").json()["data"]["services"][0]
        assert after["state"] == "running" and after["binaryPath"] == before["binaryPath"]
        assert after["pid"] != before["pid"]
        versions = client.get("/system/runtime/versions").json()["data"]
        assert versions["active"]["opencodeVersion"] == OPENCODE_VERSION and versions["upgradeTarget"] is None
        assert client.get("/system/opencode/health").json()["data"]["healthy"] is True
        assert client.post("/system/runtime/upgrade", json={}).status_code == 400
    with server.client() as user:  # the client token: not the host
        assert user.post("/system/runtime/upgrade", json={"opencodeVersion": "1.0.0"}).status_code == 403


def test_upgrade_to_an_older_real_release_through_the_cli(
    real_server: Callable[..., ServerProcess], npm_cache: Path
) -> None:
    env = {**os.environ, "npm_config_cache": str(npm_cache)}
    real_server(env=env)
    done = subprocess.run(  # its timeout is a deadline for a hang (a real download), not a measurement
        [*OPENWORK, "runtime", "upgrade", "--opencode-version", OLDER, "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert json.loads(done.stdout)["state"] == "completed"
    versions = json.loads(
        subprocess.run([*OPENWORK, "runtime", "versions", "--json"], capture_output=True, text=True, timeout=30).stdout
    )
    assert versions["active"]["opencodeVersion"] == OLDER and versions["pinned"]["opencodeVersion"] == OPENCODE_VERSION
    table = subprocess.run([*OPENWORK, "runtime", "versions"], capture_output=True, text=True, timeout=30).stdout
    assert f"opencode  {OLDER}" in table and OPENCODE_VERSION in table and "platform  linux-x64" in table
    status = json.loads(
        subprocess.run([*OPENWORK, "runtime", "status", "--json"], capture_output=True, text=True, timeout=30).stdout
    )
    opencode = status["services"][0]
    assert opencode["state"] == "running" and opencode["source"] == "downloaded"
    assert f"/opencode/{OLDER}/" in opencode["binaryPath"]
    assert status["upgrade"]["state"] == "completed"
