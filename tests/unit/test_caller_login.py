"""opencode's login chosen by a launcher (the desktop app): the original's rules, behind its gate."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from openwork.auth.callerlogin import ALLOW_ENV, AUTH_FILE, caller_login
from openwork.cli.serveconfig import _opencode_host
from openwork.config import ServerConfig
from openwork.errors import ConfigError, PortInUse
from openwork.runtime.opencode import opencode_spec
from openwork.runtime.ports import require_free, start_port

GATE = {ALLOW_ENV: "1"}


def test_flags_need_both_values_and_the_gate(tmp_path: Path) -> None:
    login = caller_login("opencode", "s3cret-pw", data_dir=tmp_path, env=GATE)
    assert login is not None and (login.username, login.password) == ("opencode", "s3cret-pw")
    assert "s3cret-pw" not in repr(login)
    with pytest.raises(ConfigError, match="both") as half:
        caller_login("opencode", None, data_dir=tmp_path, env=GATE)
    with pytest.raises(ConfigError, match="not accepted") as ungated:
        caller_login("opencode", "s3cret-pw", data_dir=tmp_path, env={})
    assert "s3cret-pw" not in str(half.value) + str(ungated.value) + (ungated.value.hint or "")


def test_the_environment_counts_only_behind_the_gate(tmp_path: Path) -> None:
    env = {"OPENWORK_OPENCODE_USERNAME": "u1", "OPENWORK_OPENCODE_PASSWORD": "p1"}
    assert caller_login(None, None, data_dir=tmp_path, env=env) is None  # ungated: a new login per run
    login = caller_login(None, None, data_dir=tmp_path, env={**env, **GATE})
    assert login is not None and (login.username, login.password) == ("u1", "p1")
    server = {"OPENCODE_SERVER_USERNAME": "u2", "OPENCODE_SERVER_PASSWORD": "p2", **GATE}
    login = caller_login(None, None, data_dir=tmp_path, env=server)
    assert login is not None and login.username == "u2"
    with pytest.raises(ConfigError, match="both"):
        caller_login(None, None, data_dir=tmp_path, env={"OPENCODE_SERVER_USERNAME": "u2", **GATE})


def test_the_desktops_auth_file_is_the_last_fallback_and_only_read(tmp_path: Path) -> None:
    auth = tmp_path / AUTH_FILE
    auth.write_text(json.dumps({"opencodeUsername": "opencode", "opencodePassword": "from-file", "updatedAt": 1}))
    auth.chmod(0o644)
    before = (auth.stat().st_mtime_ns, auth.stat().st_mode, auth.read_bytes())
    assert caller_login(None, None, data_dir=tmp_path, env={}) is None  # ungated: not even read
    login = caller_login(None, None, data_dir=tmp_path, env=GATE)
    assert login is not None and login.password == "from-file"
    env = {"OPENWORK_OPENCODE_USERNAME": "u1", "OPENWORK_OPENCODE_PASSWORD": "p1", **GATE}
    assert caller_login(None, None, data_dir=tmp_path, env=env).password == "p1"  # type: ignore[union-attr]
    assert (auth.stat().st_mtime_ns, auth.stat().st_mode, auth.read_bytes()) == before  # never written
    auth.write_text('{"opencodePassword": "half-secret"')
    with pytest.raises(ConfigError, match="not valid JSON") as bad:
        caller_login(None, None, data_dir=tmp_path, env=GATE)
    assert "half-secret" not in str(bad.value)
    auth.unlink()
    os.symlink(tmp_path / "elsewhere.json", auth)
    with pytest.raises(ConfigError):
        caller_login(None, None, data_dir=tmp_path, env=GATE)


def test_opencode_listens_on_loopback_only(tmp_path: Path) -> None:
    assert _opencode_host("localhost") == "127.0.0.1" and _opencode_host("[::1]") == "::1"
    for host in ("0.0.0.0", "192.168.1.5", "::", "example.com"):
        with pytest.raises(ConfigError, match="loopback only"):
            ServerConfig(workspace=tmp_path, data_dir=tmp_path, opencode_host=_opencode_host(host))
    with pytest.raises(ConfigError, match="not 0"):
        ServerConfig(workspace=tmp_path, data_dir=tmp_path, opencode_port=0, opencode_port_fixed=True)


def test_cors_goes_to_opencode_and_a_fixed_port_never_moves(tmp_path: Path) -> None:
    spec = opencode_spec(binary=tmp_path / "oc", host="127.0.0.1", port=5, env={}, workspace=tmp_path, cors=("*",))
    assert spec.argv[-2:] == ("--cors", "*")
    assert start_port("127.0.0.1", 4242, 4242, fixed=True) == 4242
    assert start_port("127.0.0.1", None, 4242, fixed=True) == 4242


def test_a_taken_fixed_port_names_its_holder() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        with pytest.raises(PortInUse, match=f"--opencode-port {port}: the port is already in use") as taken:
            require_free("127.0.0.1", port, flag="--opencode-port")
        assert f"pid {os.getpid()}" in taken.value.message
    require_free("127.0.0.1", port, flag="--opencode-port")  # free again: no error
