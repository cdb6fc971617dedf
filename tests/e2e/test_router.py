"""The optional router beside the real opencode, played by a stand-in program that can crash or serve."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from openwork.runtime.tools import MARKER
from tests.compat.v2_contract import ROUTER_HEALTH, problems
from tests.helpers import OPENWORK, ServerProcess, serve_args, wait_for

pytestmark = pytest.mark.e2e

FAKE_ROUTER = Path(__file__).parent.parent / "fixtures" / "bin" / "fake_router.py"


def router_args(*extra: str) -> list[str]:
    return ["--opencode-router", "--opencode-router-bin", str(FAKE_ROUTER), *extra]


def states(server: ServerProcess) -> dict[str, str]:
    with server.client() as client:
        return {s["name"]: s["state"] for s in client.get("/system/status").json()["data"]["services"]}


def test_router_runs_after_opencode_with_managed_tools(
    real_server: Callable[..., ServerProcess], isolated_env: Path, workspace: Path
) -> None:
    server = real_server(*router_args())
    wait_for(lambda: states(server).get("router") == "running", timeout=20, what="the router running")
    with server.client() as client:
        health = client.get("/system/router/health").json()["data"]
    assert health["enabled"] is True and health["healthy"] is True
    assert health["health"]["opencodeUrl"] == server.info["opencodeUrl"]
    assert server.info["opencodeRouter"]["enabled"] is True
    with server.client(token=server.info["hostToken"]) as host:
        router = host.get("/system/runtime/summary").json()["data"]["router"]
    assert problems(router, ROUTER_HEALTH) == []  # the V2 contract's shape, running
    assert router["running"] is True and router["healthUrl"] == f"http://127.0.0.1:{health['port']}/health"
    # Where and as the original writes them (opencode loads tool/ and tools/ alike).
    tools = isolated_env / "opencode-config" / "tools"
    assert sorted(p.name for p in tools.iterdir()) == ["opencode_router_send.ts", "opencode_router_status.ts"]
    assert all(p.read_text().startswith(MARKER) for p in tools.iterdir())
    state = json.loads((isolated_env / "opencode-config" / "openwork" / "router.json").read_text())
    assert state["url"] == f"http://127.0.0.1:{health['port']}"
    # The router got opencode's credentials by environment, never in argv.
    logs = server.logs()
    assert f"fake-router serve {workspace} --opencode-url {server.info['opencodeUrl']}" in logs
    password_free = [line for line in logs.splitlines() if "fake-router serve" in line]
    assert password_free and all("password" not in line.lower() for line in password_free)


def test_optional_router_giving_up_leaves_the_stack_serving(
    real_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    env = {**os.environ, "FAKE_ROUTER_MODE": "crash"}
    server = real_server(*router_args("--restart-max-failures", "2", "--restart-backoff-ms", "100"), env=env)
    wait_for(lambda: states(server).get("router") == "errored", timeout=30, what="the router given up")
    assert states(server)["opencode"] == "running"
    with server.client() as client:
        assert client.get("/system/opencode/health").json()["data"]["healthy"] is True
        health = client.get("/system/router/health").json()["data"]
    assert health["enabled"] is True and health["healthy"] is False and health["state"] == "errored"
    assert server.proc is not None and server.proc.poll() is None


def test_required_router_failing_stops_the_stack(workspace: Path, opencode_bin: Path) -> None:
    env = {**os.environ, "FAKE_ROUTER_MODE": "crash"}
    done = subprocess.run(
        [
            *OPENWORK,
            "serve",
            *serve_args(workspace, opencode_bin),
            *router_args("--opencode-router-required"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode != 0
    assert "router did not start" in done.stderr and "crashing as told" in done.stderr


def test_disabled_router_removes_only_its_own_tools(
    real_server: Callable[..., ServerProcess], isolated_env: Path
) -> None:
    config = isolated_env / "opencode-config"
    for folder, managed in (("tool", "openwork_router_send.ts"), ("tools", "opencode_router_send.ts")):
        (config / folder).mkdir(parents=True)
        (config / folder / managed).write_text(MARKER + "\nold managed file\n")  # ours: an earlier name, and now
        (config / folder / "my_own_tool.ts").write_text("// the user's own\n")
    server = real_server("--no-opencode-router")
    for folder in ("tool", "tools"):
        assert sorted(p.name for p in (config / folder).iterdir()) == ["my_own_tool.ts"]
    with server.client() as client:
        assert client.get("/system/router/health").json()["data"] == {
            "enabled": False,
            "healthy": False,
            "state": "disabled",
            "status": "disabled",  # the V2 enum
        }
    assert "router" not in states(server)
    assert httpx.get(server.url + "/system/health", timeout=5).status_code == 200
