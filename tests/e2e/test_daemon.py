"""`openwork daemon` and the thin workspace CLI against the real opencode, as a user drives them."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import OPENWORK, pid_alive, refused_url, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def cli_env(isolated_env: Path, opencode_bin: Path) -> Iterator[dict[str, str]]:
    env = {
        **os.environ,
        "OPENWORK_PORT": "0",
        "OPENWORK_OPENCODE_PORT": "0",  # any free port: never the default 4096
        "OPENWORK_ALLOW_EXTERNAL": "1",
        "OPENWORK_OPENCODE_BIN": str(opencode_bin),
    }
    yield env
    subprocess.run([*OPENWORK, "daemon", "stop"], env=env, capture_output=True, timeout=60)


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPENWORK, *args], env=env, capture_output=True, text=True, timeout=90)


def ok_json(env: dict[str, str], *args: str) -> dict[str, object]:
    done = cli(env, *args, "--json")
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    data = json.loads(done.stdout)
    assert isinstance(data, dict)
    return data


def test_daemon_lifecycle_and_workspace_commands(cli_env: dict[str, str], tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()

    # No daemon yet: a command that needs one starts it.
    first = cli(cli_env, "workspace", "list", "--json")
    assert first.returncode == 0, first.stderr
    assert "starting the daemon" in first.stderr
    assert json.loads(first.stdout)["items"] == []

    status = ok_json(cli_env, "daemon", "status")
    assert status["running"] is True and status["healthy"] is True
    daemon_pid = int(status["pid"])  # type: ignore[call-overload]
    opencode_pid = next(s["pid"] for s in status["services"] if s["name"] == "opencode")  # type: ignore[attr-defined]
    assert pid_alive(daemon_pid) and pid_alive(opencode_pid)  # it outlived the CLI that started it

    again = ok_json(cli_env, "daemon", "start")
    assert again["reused"] is True and again["pid"] == daemon_pid

    added = ok_json(cli_env, "workspace", "add", str(project), "--name", "Project")
    ws = added["workspace"]
    assert isinstance(ws, dict) and added["created"] is True
    assert cli(cli_env, "workspace", "add", str(project)).stdout.startswith("already registered")
    assert [w["id"] for w in ok_json(cli_env, "workspace", "list")["items"]] == [ws["id"]]  # type: ignore[attr-defined]
    assert ok_json(cli_env, "workspace", "info", ws["id"])["workspace"]["name"] == "Project"  # type: ignore[index]
    assert cli(cli_env, "workspace", "path", ws["id"]).stdout.strip() == str(project.resolve())
    assert ok_json(cli_env, "workspace", "switch", ws["id"])["activeId"] == ws["id"]
    assert ok_json(cli_env, "instance", "dispose", ws["id"])["disposed"] is True

    for args, message in [
        (("workspace", "add", str(tmp_path / "missing")), "does not exist"),
        (("workspace", "info", "ws_0123456789ab"), "no such workspace"),
        (("workspace", "info", "../../etc"), "no such workspace"),
        (("workspace", "switch", "🙂" * 20), "no such workspace"),
    ]:
        bad = cli(cli_env, *args)
        assert bad.returncode != 0 and message in bad.stderr, (args, bad.stderr)
        assert "Traceback" not in bad.stderr

    removed = ok_json(cli_env, "workspace", "remove", ws["id"])
    assert removed["removed"] is True and project.is_dir()

    stopped = ok_json(cli_env, "daemon", "stop")
    assert stopped["stopped"] is True
    wait_for(lambda: not pid_alive(daemon_pid) and not pid_alive(opencode_pid), timeout=15, what="daemon gone")
    assert cli(cli_env, "daemon", "status").returncode == 1
    assert ok_json(cli_env, "daemon", "stop")["wasRunning"] is False


def test_stale_records_are_cleaned_up(cli_env: dict[str, str], isolated_env: Path) -> None:
    run = isolated_env / "run"
    run.mkdir(parents=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    with refused_url() as stale_url:
        (run / "server.json").write_text(
            json.dumps({"url": stale_url, "pid": dead.pid, "createTime": 1.0, "runId": "old"})
        )
        (run / "daemon.json").write_text(json.dumps({"pid": dead.pid, "createTime": 1.0}))
        started = ok_json(cli_env, "daemon", "start")
    assert started["reused"] is False and started["healthy"] is True
    assert started["url"] != stale_url


def test_explicit_url_never_starts_a_daemon(cli_env: dict[str, str]) -> None:
    with refused_url() as url:
        done = cli(cli_env, "workspace", "list", "--openwork-url", url, "--token", "x" * 20)
    assert done.returncode != 0
    assert f"cannot reach the OpenWork server at {url}" in done.stderr
    assert cli(cli_env, "daemon", "status").returncode == 1  # nothing was started
