"""The real opencode under `openwork serve`, driven as a user would."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from openwork.sidecars.components import OPENCODE_VERSION
from tests.helpers import OPENWORK, ServerProcess, pid_alive, wait_for

pytestmark = pytest.mark.e2e


def test_serve_is_healthy_and_opencode_needs_credentials(real_server: Callable[..., ServerProcess]) -> None:
    server = real_server()
    with server.client() as client:
        status = client.get("/system/status").json()["data"]
        assert status["healthy"] is True
        health = client.get("/system/opencode/health").json()["data"]
    assert health["healthy"] is True and health["state"] == "running"
    assert health["version"] == OPENCODE_VERSION
    assert health["pid"] == server.info["pids"]["opencode"]
    opencode_url = server.info["opencodeUrl"]
    # The original's keys too; opencode's login is ours (not the caller's), so it is not printed.
    assert server.info["openwork"] == {
        "connectUrl": server.url,
        "hostToken": server.info["hostToken"],
        "ownerToken": server.info["clientToken"],
    }
    assert server.info["opencode"] == {"connectUrl": opencode_url}
    assert server.info["opencodeRouter"] == {"enabled": False, "version": None, "healthPort": None}
    anonymous = httpx.get(opencode_url + "/global/health", timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].lower().startswith("basic")
    cli = subprocess.run([*OPENWORK, "status", "--json"], capture_output=True, text=True, timeout=30)
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["healthy"] is True


def test_ctrl_c_stops_everything_with_exit_130(real_server: Callable[..., ServerProcess]) -> None:
    server = real_server()
    opencode = server.info["pids"]["opencode"]
    server.signal(signal.SIGINT)
    assert server.wait(timeout=30) == 130
    assert not pid_alive(opencode)
    assert "server.stopped" in server.logs()
    cli = subprocess.run(
        [*OPENWORK, "status", "--openwork-url", server.url], capture_output=True, text=True, timeout=30
    )
    assert cli.returncode == 1 and "unreachable" in cli.stdout


def test_killed_opencode_is_restarted_and_sigterm_exits_143(real_server: Callable[..., ServerProcess]) -> None:
    server = real_server()
    first_pid = server.info["pids"]["opencode"]
    seen: set[str] = set()
    with server.client() as client:
        os.kill(first_pid, signal.SIGKILL)

        def back_up() -> dict[str, object] | None:
            data = client.get("/system/opencode/health").json()["data"]
            seen.add(str(data["state"]))
            return data if data["state"] == "running" and data["pid"] != first_pid and data["healthy"] else None

        data = wait_for(back_up, timeout=30, interval=0.05, what="opencode to be restarted")
    assert seen & {"crashed", "restart_scheduled", "starting"}, seen
    assert data["restarts"] == 1
    assert data["lastExit"]["signal"] == "SIGKILL"  # type: ignore[index]
    # The exit's lines are opencode's log: the host reads them, the client token (not the host) does not.
    assert data["lastExit"]["lastLines"] == [] and data["lastExit"]["output"]["combined"] == []  # type: ignore[index]
    with server.client(token=server.info["hostToken"]) as host:
        for path in ("/system/opencode/health", "/system/status"):
            answer = host.get(path).json()["data"]
            exit_info = answer["lastExit"] if path.endswith("health") else answer["services"][0]["lastExit"]
            assert exit_info["lastLines"] and exit_info["output"]["totalLines"] == len(exit_info["lastLines"])
    with server.client() as client:
        status = client.get("/system/status").json()["data"]
        summary = client.get("/system/runtime/summary").json()["data"]
    assert status["services"][0]["lastExit"]["lastLines"] == [] and status["database"]["path"] == ""
    assert summary["services"][0]["lastExit"]["lastLines"] == [] and summary["opencode"]["lastExit"]["lastLines"] == []
    assert not pid_alive(first_pid)
    second_pid = data["pid"]
    server.signal(signal.SIGTERM)
    assert server.wait(timeout=30) == 143
    assert not pid_alive(second_pid)  # type: ignore[arg-type]


def test_start_check_and_check_events_pass_and_leave_nothing(workspace: Path, opencode_bin: Path) -> None:
    done = subprocess.run(
        [
            *OPENWORK,
            "start",
            "--no-tui",
            "--check",
            "--check-events",
            "--json",
            "--port",
            "0",
            "--opencode-port",
            "0",
            "--workspace",
            str(workspace),
            "--allow-external",
            "--opencode-bin",
            str(opencode_bin),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    for check in ("server.status", "opencode.session", "server.events", "opencode.events"):
        assert f"check={check} passed=true" in done.stderr
    assert not pid_alive(info["pids"]["opencode"])


def test_port_already_taken_is_a_clear_error(workspace: Path, opencode_bin: Path, tmp_path: Path) -> None:
    # opencode behind a recorder: the taken port must be refused before any child is spawned, so
    # there is nothing to restart (no restart storm) whatever the machine's load.
    spawned = tmp_path / "opencode-spawned"
    recorder = tmp_path / "opencode"
    recorder.write_text(
        f'#!/bin/sh\necho "$@" >> {shlex.quote(str(spawned))}\nexec {shlex.quote(str(opencode_bin))} "$@"\n'
    )
    recorder.chmod(0o755)
    with socket.socket() as blocker:  # "something else" holds the port
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        done = subprocess.run(
            [
                *OPENWORK,
                "serve",
                "--workspace",
                str(workspace),
                "--port",
                str(taken),
                "--opencode-port",
                "0",
                "--allow-external",
                "--opencode-bin",
                str(recorder),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode != 0
    assert f"port {taken}" in done.stderr and "already in use" in done.stderr
    assert "Traceback" not in done.stderr
    assert not spawned.exists(), f"opencode was started: {spawned.read_text()}"


def test_json_log_format_is_one_record_per_line(real_server: Callable[..., ServerProcess]) -> None:
    server = real_server(env={**os.environ, "OPENWORK_LOG_FORMAT": "json", "OPENWORK_RUN_ID": "run_e2e"})
    with server.client() as client:
        assert client.get("/system/status").status_code == 200
    server.signal(signal.SIGTERM)
    server.wait(timeout=30)
    records = [json.loads(line) for line in server.logs().splitlines() if line.strip()]
    assert records and all(r["resource"]["openwork.run_id"] == "run_e2e" for r in records)
    assert any(r["attributes"]["service"] == "opencode" for r in records)
    assert any(r["body"] == "server.stopped" for r in records)
