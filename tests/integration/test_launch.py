"""``openwork.lifecycle.launch.prepare``: what it acquires (lock, listener, binaries, credentials), that it
spawns nothing, and that ``close`` gives everything back."""

from __future__ import annotations

import dataclasses
import os
import socket
from pathlib import Path

import psutil
import pytest

from openwork.config import ServerConfig
from openwork.errors import ConfigError
from openwork.lifecycle.launch import prepare
from openwork.sidecars.resolver import SidecarSettings
from tests.helpers import FIXTURES

FAKE = FIXTURES / "fake_opencode.py"


def config(tmp_path: Path, **overrides: object) -> ServerConfig:
    workspace = tmp_path / "ws"
    workspace.mkdir(exist_ok=True)
    data = tmp_path / "data"
    sidecars = SidecarSettings(sidecar_dir=data / "sidecars", allow_external=True, opencode_bin=FAKE)
    return ServerConfig(
        workspace=workspace, data_dir=data, port=0, opencode_port=0, sidecars=sidecars, router=False, **overrides
    )


def test_prepare_acquires_without_spawning_and_close_releases_all(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    launch = prepare(cfg)
    try:
        assert launch.binary.path == FAKE and launch.router_binary is None and launch.sandbox is None
        port = launch.sock.getsockname()[1]
        assert port != 0 and launch.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
        assert psutil.Process(os.getpid()).children() == []  # opencode is the stack's to start, from the loop
        assert len(launch.credentials.opencode_password) >= 32
        with pytest.raises(ConfigError, match="already using the data dir"):
            prepare(cfg)  # the lock is held
    finally:
        launch.close()
    assert launch.sock.fileno() == -1
    launch.close()  # idempotent
    prepare(cfg).close()  # lock released


def test_a_failed_prepare_releases_the_lock_and_the_port(tmp_path: Path) -> None:
    cfg = config(tmp_path, sandbox_mounts=("/x:y",))  # refused: --sandbox-mount needs --sandbox
    with pytest.raises(ConfigError, match="needs --sandbox"):
        prepare(cfg)
    prepare(dataclasses.replace(cfg, sandbox_mounts=())).close()
