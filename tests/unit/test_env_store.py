"""The user env store: what it accepts, how it is read and written, and what children get from it."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from openwork.auth.credentials import Credentials
from openwork.config import ServerConfig
from openwork.errors import ConfigError, ValidationError
from openwork.files.protected import ProtectedSet
from openwork.logging import LogHub
from openwork.runtime.childenv import ChildEnv, with_loopback_exempt, with_tool_dirs
from openwork.runtime.envstore import load_env_store, save_env_store, validate_env
from openwork.runtime.events import EventBus
from openwork.runtime.opencode import DEV_ENV_KEYS
from openwork.runtime.stack import Stack
from openwork.sidecars.resolver import ResolvedBinary


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"OPENWORK_TOKEN": "x"}, "server's own"),
        ({"opencode_server_password": "x"}, "server's own"),
        ({"1BAD": "x"}, "not an environment variable name"),
        ({"A=B": "x"}, "not an environment variable name"),
        ({"KEY": 1}, "must be a string"),
        ({"KEY": "line\nOPENCODE_SERVER_PASSWORD=x"}, "line break"),
        ({"LD_PRELOAD": "/tmp/x.so"}, "how programs load"),
        ({"NODE_OPTIONS": "--require /tmp/x.js"}, "how programs load"),
        ({"DOCKER_HOST": "tcp://elsewhere"}, "how programs load"),
        ({"CONTAINERS_CONF": "/tmp/c.conf"}, "how programs load"),
        (["KEY"], "JSON object"),
        ({"KEY": "\ud800"}, "not text"),  # a lone surrogate: no program could be given it
    ],
)
def test_the_store_refuses_what_is_not_a_plain_user_variable(values: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        validate_env(values)


def test_written_atomically_private_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "env.json"
    save_env_store({"ANTHROPIC_API_KEY": "sk-1", "HTTPS_PROXY": "http://proxy:3128"}, path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_env_store(path) == {"ANTHROPIC_API_KEY": "sk-1", "HTTPS_PROXY": "http://proxy:3128"}
    with pytest.raises(ValidationError):
        save_env_store({"OPENCODE_CONFIG": "x"}, path)
    assert load_env_store(path)["ANTHROPIC_API_KEY"] == "sk-1"  # a refused store never touched the file
    assert load_env_store(tmp_path / "missing.json") == {}


def test_a_corrupt_store_is_named_and_the_last_good_values_stay(tmp_path: Path) -> None:
    path = tmp_path / "env.json"
    path.write_text(json.dumps({"KEY": "good"}))
    env = ChildEnv(path, home=tmp_path)
    assert env.store() == {"KEY": "good"} and env.error is None
    path.write_text("{not json")
    with pytest.raises(ConfigError, match=str(path)):
        load_env_store(path)
    assert env.store() == {"KEY": "good"} and env.error is not None and str(path) in env.error
    path.write_text(json.dumps({"KEY": "new"}))
    assert env.store() == {"KEY": "new"} and env.error is None


def test_a_symlinked_store_is_not_followed(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text(json.dumps({"KEY": "v"}))
    link = tmp_path / "env.json"
    link.symlink_to(real)
    with pytest.raises(ConfigError, match="symlink"):
        load_env_store(link)


def test_a_store_that_is_a_folder_is_a_clear_error_and_leaks_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "env.json"
    folder.mkdir()
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        with pytest.raises(ConfigError, match="not a regular file"):
            load_env_store(folder)
    assert len(os.listdir("/proc/self/fd")) == before
    env = ChildEnv(folder, home=tmp_path)
    assert env.store() == {} and env.error is not None  # spawns go on, with no store


def test_a_loose_store_is_made_private_when_read(tmp_path: Path) -> None:
    path = tmp_path / "env.json"
    path.write_text(json.dumps({"KEY": "v"}))
    path.chmod(0o644)
    assert load_env_store(path) == {"KEY": "v"} and path.stat().st_mode & 0o777 == 0o600


def test_store_values_are_told_to_the_log_redactor(tmp_path: Path) -> None:
    store = tmp_path / "env.json"
    store.write_text(json.dumps({"MY_API_KEY": "sk-long-secret-value"}))
    told: list[str] = []
    ChildEnv(store, home=tmp_path, redact=lambda *values: told.extend(values)).store()
    assert told == ["sk-long-secret-value"]


def test_children_get_the_store_tool_folders_and_direct_loopback(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".local" / "bin").mkdir(parents=True)
    (home / ".cargo" / "bin").mkdir(parents=True)
    store = tmp_path / "env.json"
    store.write_text(json.dumps({"MY_KEY": "from-store", "HTTP_PROXY": "http://proxy:3128"}))
    env = ChildEnv(store, home=home).apply({"PATH": f"/usr/bin{os.pathsep}{home / '.cargo' / 'bin'}", "MY_KEY": "old"})
    assert env["MY_KEY"] == "from-store"
    path = env["PATH"].split(os.pathsep)
    # its own order first, then the tool folders that exist (and only those), none twice
    assert path[:3] == ["/usr/bin", str(home / ".cargo" / "bin"), str(home / ".local" / "bin")]
    assert len(path) == len(set(path)) and all(Path(p).is_dir() for p in path[2:])
    assert str(home / ".volta" / "bin") not in path
    assert env["NO_PROXY"] == env["no_proxy"] == "127.0.0.1,localhost,::1"
    assert ChildEnv(store, home=home).for_container() == {"MY_KEY": "from-store", "HTTP_PROXY": "http://proxy:3128"}


def test_no_proxy_keeps_what_was_there_and_is_untouched_without_a_proxy(tmp_path: Path) -> None:
    assert with_loopback_exempt({"NO_PROXY": "corp.example"}) == {"NO_PROXY": "corp.example"}
    exempt = with_loopback_exempt({"https_proxy": "http://p:1", "NO_PROXY": "corp.example,localhost"})
    assert exempt["NO_PROXY"] == "corp.example,localhost,127.0.0.1,::1"
    assert with_tool_dirs({"PATH": "/bin"}, tmp_path / "nohome")["PATH"].startswith("/bin")


def test_the_store_is_protected_from_clients(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "elsewhere" / "env.json"
    monkeypatch.setenv("OPENWORK_ENV_STORE", str(store))
    config = ServerConfig(workspace=tmp_path, data_dir=tmp_path / "data")
    protected = ProtectedSet.for_server(config)
    assert protected.covers(store) and protected.covers(Path.home() / ".config" / "openwork" / "env.json")


def test_the_configured_store_is_the_protected_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server protects the store its config names (flag > env > default), not only the env's."""
    monkeypatch.delenv("OPENWORK_ENV_STORE", raising=False)
    store = tmp_path / "chosen" / "env.json"
    config = ServerConfig(workspace=tmp_path, data_dir=tmp_path / "data")
    assert ProtectedSet.for_server(dataclasses.replace(config, env_store=store)).covers(store)
    assert not ProtectedSet.for_server(config).covers(store)


def test_dev_mode_folders_of_opencode_win_over_the_store(tmp_path: Path) -> None:
    """The store may set XDG folders for opencode, but not over dev mode's isolated ones: checked on the
    opencode driver a stack builds."""
    store = tmp_path / "env.json"
    store.write_text(json.dumps({"XDG_CONFIG_HOME": "/elsewhere", "XDG_RUNTIME_DIR": "/run/x"}))

    def spawn_env(dev_mode: bool) -> dict[str, str]:
        config = ServerConfig(workspace=tmp_path, data_dir=tmp_path / "data", dev_mode=dev_mode, env_store=store)
        binary = ResolvedBinary(
            component="opencode", path=Path("/bin/true"), source="external", target="linux-x64", version=None,
            sha256=None, how="test",
        )  # fmt: skip
        credentials = Credentials(client_token="c" * 32, host_token="h" * 32)
        stack = Stack(config=config, binary=binary, credentials=credentials, hub=LogHub(), bus=EventBus())
        return stack.driver.spawn_env()

    dev = spawn_env(dev_mode=True)
    assert dev["XDG_CONFIG_HOME"] == str(tmp_path / "data" / "opencode-dev" / "config")
    assert {k for k in dev if k.startswith("XDG_") and k.endswith("_HOME")} >= set(DEV_ENV_KEYS)
    assert dev["XDG_RUNTIME_DIR"] == "/run/x"  # not one of ours: the store's value
    assert spawn_env(dev_mode=False)["XDG_CONFIG_HOME"] == "/elsewhere"
