"""The desktop app's launch of `daemon run`, replayed (apps/desktop/src-tauri/src/orchestrator/manager.rs):
its auth file first, its command line and environment, its polls, its direct use of opencode on the port it
chose, its `POST /shutdown`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import OPENWORK, ServerProcess, free_port, pid_alive, wait_for

pytestmark = pytest.mark.e2e

RESTART_WAIT = 60.0
STOP_WAIT = 30.0
REFUSE_WAIT = 30.0


def _opencode_answers(url: str, auth: tuple[str, str]) -> int:
    with httpx.Client(timeout=5.0, trust_env=False) as client:
        return client.get(url + "/global/health", auth=auth).status_code


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")


@pytest.mark.parametrize("where", ["flags", "env"])
def test_the_desktop_launch_replayed(where: str, opencode_bin: Path, tmp_path: Path) -> None:
    data, workdir = tmp_path / "desktop-data", tmp_path / "project"
    data.mkdir(mode=0o700)
    workdir.mkdir()
    password = str(uuid.uuid4())
    (data / "openwork-orchestrator-auth.json").write_text(
        json.dumps({"opencodeUsername": "opencode", "opencodePassword": password, "projectDir": str(workdir)})
    )
    port = free_port()
    args = [
        "--data-dir", str(data), "--daemon-host", "127.0.0.1", "--daemon-port", "0",
        "--opencode-bin", str(opencode_bin), "--opencode-host", "localhost", "--opencode-workdir", str(workdir),
        "--allow-external", "--opencode-port", str(port), "--cors", "*",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "OPENWORK_DATA_DIR"}
    env["OPENWORK_INTERNAL_ALLOW_OPENCODE_CREDENTIALS"] = "1"
    if where == "flags":
        args += ["--opencode-username", "opencode", "--opencode-password", password]
    else:
        env |= {"OPENWORK_OPENCODE_USERNAME": "opencode", "OPENWORK_OPENCODE_PASSWORD": password}
    daemon = ServerProcess(args, env=env, command=("daemon", "run"))
    try:
        info = daemon.start(log_file=tmp_path / "daemon.log").info
        opencode_url = f"http://127.0.0.1:{port}"
        assert info["opencodeUrl"] == opencode_url
        with httpx.Client(base_url=daemon.url, timeout=10.0, trust_env=False) as native:
            health: dict[str, Any] = native.get("/health").json()
            assert health["ok"] is True and health["opencode"]["port"] == port
            assert set(native.get("/workspaces").json()) == {"activeId", "workspaces"}
        # The launcher talks to opencode directly, with the login it chose; nobody else gets in.
        assert _opencode_answers(opencode_url, ("opencode", password)) == 200
        assert _opencode_answers(opencode_url, ("opencode", "wrong")) == 401
        state = json.loads((data / "openwork-orchestrator-state.json").read_text())
        assert state["daemon"]["pid"] == info["pids"]["server"]
        first = info["pids"]["opencode"]
        assert password not in _cmdline(first)  # opencode gets it by environment only
        if where == "flags":
            assert "opencode.login_in_argv" in daemon.logs()

        os.kill(first, signal.SIGKILL)  # a crash: the restart comes back on the same port
        wait_for(
            lambda: (
                _opencode_answers(opencode_url, ("opencode", password)) == 200
                and json.loads((data / "openwork-orchestrator-state.json").read_text())["opencode"]["pid"] != first
            ),
            timeout=RESTART_WAIT,
            interval=0.2,
            what="opencode back on its port",
        )
        second = json.loads((data / "openwork-orchestrator-state.json").read_text())["opencode"]["pid"]
        with httpx.Client(base_url=daemon.url, timeout=10.0, trust_env=False) as native:
            assert native.post("/shutdown", json={}).json() == {"ok": True}
        assert daemon.wait(timeout=STOP_WAIT) == 0
        assert not pid_alive(second) and not pid_alive(first)
        written = (data / "openwork-orchestrator-state.json").read_text()
        log_file = (data / "logs" / "openwork.jsonl").read_text()  # the log file too, whole
        assert '"service":"openwork"' in log_file
        sources = {"console": daemon.logs(), "state file": written, "log file": log_file}
        assert [name for name, text in sources.items() if password in text] == []
    finally:
        daemon.stop()


def test_a_non_loopback_opencode_host_is_refused_before_anything_starts(opencode_bin: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    argv = [*OPENWORK, "daemon", "run", "--data-dir", str(data), "--daemon-port", "0", "--opencode-host", "0.0.0.0"]
    argv += ["--opencode-bin", str(opencode_bin), "--allow-external"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=REFUSE_WAIT)
    assert done.returncode != 0 and "loopback only" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not (data / "openwork-orchestrator-state.json").exists()
