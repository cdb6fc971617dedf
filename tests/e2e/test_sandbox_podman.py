"""Sandbox mode with a real engine (podman) and the real opencode."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import OPENWORK, ServerProcess, serve_args, wait_for
from tests.sandbox_image import ENGINE_ARGS, build_image

pytestmark = pytest.mark.e2e

PODMAN = shutil.which("podman")


@pytest.fixture(scope="session")
def sandbox_image(opencode_bin: Path) -> str:
    assert PODMAN, "podman is required for the sandbox tests (CI installs it with apt-get)"
    return build_image(opencode_bin, PODMAN)


def podman(*args: str) -> subprocess.CompletedProcess[str]:
    assert PODMAN
    return subprocess.run([PODMAN, "--runtime", "runc", *args], capture_output=True, text=True, timeout=60)


def containers_of(run_id: str) -> list[str]:
    out = podman("ps", "--all", "--filter", f"label=openwork.run={run_id}", "--format", "{{.Names}}").stdout
    return [line for line in out.splitlines() if line.strip()]


def test_serve_in_podman(
    real_server: Callable[..., ServerProcess], sandbox_image: str, workspace: Path, isolated_env: Path
) -> None:
    env = {**os.environ, "OPENWORK_SANDBOX_ENGINE_ARGS": ENGINE_ARGS}
    server = real_server("--sandbox", "podman", "--sandbox-image", sandbox_image, "--run-id", "run_sbx1", env=env)
    name = "openwork-run_sbx1"
    assert containers_of("run_sbx1") == [name]
    with server.client() as client:
        health = client.get("/system/opencode/health").json()["data"]
        assert health["healthy"] is True and health["sandbox"]["container"] == name
        ws_id = client.get("/workspaces").json()["data"]["items"][0]["id"]
        session = client.post(f"/workspaces/{ws_id}/opencode/session", json={})
        assert session.status_code == 200, session.text
        assert session.json()["directory"] == "/workspace"  # the host folder, as the container sees it

    # A file written inside the container is in the host workspace.
    wrote = podman("exec", name, "/bin/sh", "-c", "echo from-the-container > /workspace/inside.txt")
    assert wrote.returncode == 0, wrote.stderr
    assert (workspace / "inside.txt").read_text() == "from-the-container\n"

    # No secret in what the engine shows about the container's command line.
    inspect = json.loads(podman("inspect", name).stdout)[0]
    shown = json.dumps(
        {"args": inspect.get("Args"), "cmd": inspect.get("Config", {}).get("Cmd"), "path": inspect.get("Path")}
    )
    for secret_file in ("client-token", "host-token"):
        assert (isolated_env / "secrets" / secret_file).read_text().strip() not in shown
    assert "PASSWORD" not in shown
    assert not list((isolated_env / "run").glob("sandbox-*.env"))  # the env file is gone once started

    server.stop()
    wait_for(lambda: containers_of("run_sbx1") == [], timeout=30, what="the container removed on stop")


def test_leftover_container_is_removed_at_the_next_start(
    real_server: Callable[..., ServerProcess], sandbox_image: str
) -> None:
    env = {**os.environ, "OPENWORK_SANDBOX_ENGINE_ARGS": ENGINE_ARGS}
    first = real_server("--sandbox", "podman", "--sandbox-image", sandbox_image, "--run-id", "run_sbx2", env=env)
    assert first.proc is not None
    first.proc.kill()  # the server dies hard; its container may outlive it
    first.proc.wait(10)
    second = real_server("--sandbox", "podman", "--sandbox-image", sandbox_image, "--run-id", "run_sbx3", env=env)
    assert containers_of("run_sbx2") == []
    assert containers_of("run_sbx3") == ["openwork-run_sbx3"]
    second.stop()


def test_engine_failures_are_clear_and_leave_nothing(workspace: Path, opencode_bin: Path, tmp_path: Path) -> None:
    broken = tmp_path / "podman"
    broken.write_text("#!/bin/sh\necho 'engine is broken' >&2\nexit 125\n")
    broken.chmod(0o755)
    base = [
        *OPENWORK,
        "serve",
        *serve_args(workspace, opencode_bin),
        "--sandbox",
        "podman",
    ]
    done = subprocess.run([*base, "--sandbox-engine", str(broken)], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "no usable container engine" in done.stderr and "Traceback" not in done.stderr

    assert PODMAN
    env = {**os.environ, "OPENWORK_SANDBOX_ENGINE_ARGS": ENGINE_ARGS}
    missing_image = subprocess.run(
        [*base, "--sandbox-image", "localhost/does-not-exist:1", "--run-id", "run_sbx4"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert missing_image.returncode != 0 and "opencode did not start" in missing_image.stderr
    assert containers_of("run_sbx4") == []

    bad_mount = subprocess.run(
        [*base, "--sandbox-engine", str(broken), "--sandbox-mount", "/etc:etc"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad_mount.returncode != 0 and "not inside an allowed root" in bad_mount.stderr
