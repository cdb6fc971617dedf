"""``openwork.lifecycle.launch.prepare``: what it acquires, the opencode it starts before the server's imports, and
that ``close`` gives everything back. The stand-in opencode is a real process on a real port."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import structlog

from openwork.config import ServerConfig
from openwork.errors import ConfigError
from openwork.lifecycle.launch import LaunchLog, prepare
from openwork.sidecars.resolver import SidecarSettings
from tests.helpers import FIXTURES, pid_alive

FAKE = FIXTURES / "fake_opencode.py"


def config(tmp_path: Path, **overrides: object) -> ServerConfig:
    workspace = tmp_path / "ws"
    workspace.mkdir(exist_ok=True)
    data = tmp_path / "data"
    sidecars = SidecarSettings(sidecar_dir=data / "sidecars", allow_external=True, opencode_bin=FAKE)
    return ServerConfig(
        workspace=workspace, data_dir=data, port=0, opencode_port=0, sidecars=sidecars, router=False, **overrides
    )


def healthy(port: int, auth: tuple[str, str], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/global/health", auth=auth, timeout=1.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    return False


def test_prepare_starts_opencode_with_the_credentials_by_env_and_close_releases_all(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    launch = prepare(cfg)
    try:
        early = launch.early
        assert early is not None
        assert early.spec.argv[-2:] == ("--port", str(early.port))
        creds = launch.credentials
        assert healthy(early.port, (creds.opencode_username, creds.opencode_password))
        cmdline = Path(f"/proc/{early.popen.pid}/cmdline").read_bytes().decode()
        assert all(secret not in cmdline for secret in creds.values())
        with pytest.raises(ConfigError, match="already using the data dir"):
            prepare(cfg)  # the lock is held
    finally:
        launch.close()
    assert not pid_alive(early.popen.pid)  # nobody adopted it: killed
    launch.close()  # idempotent
    again = prepare(cfg, early_start=False)  # lock and port released
    try:
        assert again.early is None
    finally:
        again.close()


def test_a_failed_prepare_releases_the_lock(tmp_path: Path) -> None:
    cfg = config(tmp_path, sandbox_mounts=("/x:y",))  # refused: --sandbox-mount needs --sandbox
    with pytest.raises(ConfigError, match="needs --sandbox"):
        prepare(cfg)
    prepare(dataclasses.replace(cfg, sandbox_mounts=()), early_start=False).close()


def test_launch_log_holds_events_until_flush_and_live_ones_flush_in_order() -> None:
    calls: list[str] = []
    log = LaunchLog(lambda: calls.append("ready"))
    log.note("info", "first")
    log.note("warning", "second")
    assert calls == []  # nothing set up, nothing emitted yet
    emitted: list[str] = []

    def capture(_logger: object, _name: str, event: dict[str, object]) -> str:
        emitted.append(str(event["event"]))
        raise structlog.DropEvent

    structlog.configure(processors=[capture])
    try:
        log.live("info", "third")
        assert calls == ["ready"]
        assert emitted == ["first", "second", "third"]
        log.flush()
        assert emitted == ["first", "second", "third"]  # each event once
    finally:
        structlog.reset_defaults()


def test_preloader_imports_in_its_thread_and_yields_the_cpu_once_opencode_is_spawned(tmp_path: Path) -> None:
    # Each module records the nice value of the thread importing it.
    (tmp_path / "pre_a.py").write_text(
        "import os, threading\nNICE = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())\n"
    )
    (tmp_path / "pre_b.py").write_text("raise ImportError('broken on purpose')\n")
    (tmp_path / "pre_c.py").write_text("X = 1\n")
    code = (
        "import os, sys; from openwork.lifecycle.launch import Preloader; from openwork.constants import BACKGROUND_NICENESS;"
        "base = os.getpriority(os.PRIO_PROCESS, 0);"
        "p = Preloader(('pre_a', 'pre_b', 'pre_c')); p.spawned(); p.start(); p.start(); assert p.wait(20);"
        "import pre_a; assert pre_a.NICE == min(19, base + BACKGROUND_NICENESS), (pre_a.NICE, base);"
        "assert 'pre_b' not in sys.modules and 'pre_c' not in sys.modules;"  # stops at the first failure
        "assert os.getpriority(os.PRIO_PROCESS, 0) == base;"  # the main thread keeps its priority
        "print('ok')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
