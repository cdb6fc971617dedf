"""`openwork serve` as a real process with the opencode stand-in: hard kills, leftovers, bad setups."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import psutil

from tests.helpers import FIXTURES, OPENWORK, ServerProcess, pid_alive, serve_args, wait_for

FAKE = str(FIXTURES / "fake_opencode.py")


def test_sigkilled_server_leaves_no_orphan_and_next_start_reaps_the_group(
    tmp_path: Path, workspace: Path, serve: list[ServerProcess]
) -> None:
    env = {**os.environ, "FAKE_OPENCODE_GRANDCHILD": "1"}
    first = ServerProcess(serve_args(workspace, FAKE), env=env)
    serve.append(first)
    first.start(log_file=tmp_path / "first.log")
    child = first.info["pids"]["opencode"]
    grandchildren = wait_for(lambda: psutil.Process(child).children(), timeout=10, what="grandchild")
    grandchild = grandchildren[0].pid
    first.signal(signal.SIGKILL)
    first.wait(timeout=10)
    # the direct child dies with the server (parent-death signal)
    wait_for(lambda: not pid_alive(child), timeout=10, what="opencode to die with its server")
    # the grandchild was orphaned; the next start finds it by the recorded (pid, create_time, group)
    second = ServerProcess(serve_args(workspace, FAKE))
    serve.append(second)
    second.start(log_file=tmp_path / "second.log")
    wait_for(lambda: not pid_alive(grandchild), timeout=10, what="leftover grandchild to be reaped")
    assert "records.reaped" in second.logs()


def test_reaping_never_touches_a_live_servers_children(
    tmp_path: Path, workspace: Path, serve: list[ServerProcess]
) -> None:
    first = ServerProcess(serve_args(workspace, FAKE))
    serve.append(first)
    first.start(log_file=tmp_path / "first.log")
    # a second server on the same data dir is refused before it touches anything
    done = subprocess.run(
        [*OPENWORK, "serve", *serve_args(workspace, FAKE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "already using the data dir" in done.stderr
    assert "Traceback" not in done.stderr
    assert pid_alive(first.info["pids"]["opencode"])


def test_missing_workspace_and_bad_binary_are_clear_errors(tmp_path: Path) -> None:
    done = subprocess.run(
        [*OPENWORK, "serve", "--workspace", str(tmp_path / "nope"), "--port", "0", "--opencode-port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "does not exist" in done.stderr and "Traceback" not in done.stderr
    ws = tmp_path / "ws"
    ws.mkdir()
    done = subprocess.run(
        [
            *OPENWORK,
            "serve",
            *serve_args(ws, tmp_path / "missing-opencode"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "not executable" in done.stderr and "Traceback" not in done.stderr


def test_opencode_that_fails_to_start_reports_its_last_output(tmp_path: Path, workspace: Path) -> None:
    broken = tmp_path / "broken-opencode"
    broken.write_text("#!/bin/sh\necho 'fatal: cannot load config' >&2\nexit 7\n")
    broken.chmod(0o755)
    done = subprocess.run(
        [
            *OPENWORK,
            "serve",
            *serve_args(workspace, broken),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "opencode did not start: exited with code 7" in done.stderr
    assert "fatal: cannot load config" in done.stderr
    assert "hint: `openwork doctor`" in done.stderr and "openwork logs --service opencode" in done.stderr
    assert "Traceback" not in done.stderr


def test_external_version_comes_from_health_and_a_mismatch_is_a_warning(
    tmp_path: Path, workspace: Path, serve: list[ServerProcess]
) -> None:
    marker = tmp_path / "asked"
    env = {**os.environ, "FAKE_OPENCODE_HEALTH_VERSION": "0.0.1-health", "FAKE_OPENCODE_VERSION_MARKER": str(marker)}
    server = ServerProcess(serve_args(workspace, FAKE), env=env)
    serve.append(server)
    server.start(log_file=tmp_path / "server.log")
    wait_for(lambda: "sidecar.version_mismatch" in server.logs(), timeout=10, what="the mismatch warning")
    assert "0.0.1-health" in server.logs()
    assert not marker.exists()  # opencode said it in its health answer: no `--version` run


def test_external_version_falls_back_to_asking_the_binary(
    tmp_path: Path, workspace: Path, serve: list[ServerProcess]
) -> None:
    marker = tmp_path / "asked"
    env = {**os.environ, "FAKE_OPENCODE_VERSION_MARKER": str(marker)}
    server = ServerProcess(serve_args(workspace, FAKE), env=env)
    serve.append(server)
    server.start(log_file=tmp_path / "server.log")
    wait_for(lambda: "sidecar.version_mismatch" in server.logs(), timeout=10, what="the mismatch warning")
    assert "0.0.0-fake" in server.logs()
    assert marker.read_text() == "asked\n"
