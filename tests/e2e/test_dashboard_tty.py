"""`openwork start` in a real pseudo-terminal (tmux, 80x24) on the real opencode; and `--detach`."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import OPENWORK, pid_alive, wait_for

pytestmark = pytest.mark.e2e

TMUX = shutil.which("tmux")


@pytest.fixture
def env(isolated_env: Path, opencode_bin: Path) -> Iterator[dict[str, str]]:
    values = {
        **os.environ,
        "OPENWORK_ALLOW_EXTERNAL": "1",
        "OPENWORK_OPENCODE_BIN": str(opencode_bin),
        "OPENWORK_OPENCODE_PORT": "0",  # any free port: never the default 4096
    }
    yield values
    subprocess.run([*OPENWORK, "daemon", "stop"], env=values, capture_output=True, timeout=60)


def test_dashboard_in_a_terminal_then_detach(env: dict[str, str], workspace: Path, isolated_env: Path) -> None:
    assert TMUX, "tmux is required for the terminal test (CI installs it)"
    session = "ow" + uuid.uuid4().hex[:8]
    done_file = workspace.parent / "exit-code"
    command = " ".join(shlex.quote(a) for a in [*OPENWORK, "start", "--workspace", str(workspace), "--port", "0"])
    script = f"{command}; echo $? > {shlex.quote(str(done_file))}; sleep 60"
    subprocess.run(
        [TMUX, "new-session", "-d", "-s", session, "-x", "80", "-y", "24", "bash", "-c", script],
        env=env,
        check=True,
        timeout=10,
    )

    def screen() -> str:
        out = subprocess.run([TMUX, "capture-pane", "-p", "-t", session], capture_output=True, text=True, timeout=10)
        return out.stdout

    try:

        def ready() -> str | None:
            shown = screen()
            return shown if "opencode  running" in shown and "OpenWork URL" in shown else None

        text = wait_for(
            ready,
            timeout=60,
            interval=0.25,
            what="the dashboard showing opencode running",
        )
        token = (isolated_env / "secrets" / "client-token").read_text().strip()
        host_token = (isolated_env / "secrets" / "host-token").read_text().strip()
        assert "server" in text and "http://127.0.0.1:" in text
        assert token not in text and host_token not in text
        subprocess.run([TMUX, "send-keys", "-t", session, "t"], check=True, timeout=10)
        wait_for(lambda: token in screen(), timeout=10, what="the revealed token")
        subprocess.run([TMUX, "send-keys", "-t", session, "d"], check=True, timeout=10)
        wait_for(done_file.exists, timeout=20, what="the CLI to exit after detaching")
        assert done_file.read_text().strip() == "0"
        after = screen()
        assert "OpenWork is running in the background" in after and "attach:" in after
        assert host_token not in after
    finally:
        subprocess.run([TMUX, "kill-session", "-t", session], capture_output=True, timeout=10)

    status = subprocess.run(
        [*OPENWORK, "daemon", "status", "--json"], env=env, capture_output=True, text=True, timeout=30
    )
    assert status.returncode == 0, status.stdout
    info = json.loads(status.stdout)
    assert info["healthy"] is True and pid_alive(info["pid"])  # detached: the stack kept running


def test_detach_without_a_terminal(env: dict[str, str], workspace: Path) -> None:
    done = subprocess.run(
        [*OPENWORK, "start", "--detach", "--json", "--workspace", str(workspace), "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["healthy"] is True and info["workspace"] == str(workspace.resolve())
    listed = subprocess.run(
        [*OPENWORK, "workspace", "list", "--json"], env=env, capture_output=True, text=True, timeout=30
    )
    items = json.loads(listed.stdout)
    assert [w["path"] for w in items["items"]] == [str(workspace.resolve())] and items["items"][0]["active"]
    stopped = subprocess.run(
        [*OPENWORK, "daemon", "stop", "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    assert json.loads(stopped.stdout)["stopped"] is True
    wait_for(lambda: not pid_alive(info["pid"]), timeout=15, what="the daemon gone")
