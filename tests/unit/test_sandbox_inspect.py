"""`openwork sandbox inspect`'s reading of an engine's document, and the --sandbox-* limit flags."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from openwork.cli.app import cli
from openwork.config import ServerConfig
from openwork.errors import ConfigError
from openwork.sandbox.engine import AppleContainerEngine, DockerLikeEngine, engine_at
from openwork.sandbox.inspect import render_settings, summarize
from openwork.sandbox.policy import DEFAULT_MEMORY_BYTES, default_cpus

PODMAN_INSPECT = {
    "Name": "openwork-run_1",
    "Config": {"User": "1000:1000"},
    "HostConfig": {
        "CapDrop": ["CAP_CHOWN", "CAP_SETUID"],
        "CapAdd": [],
        "SecurityOpt": ["no-new-privileges"],
        "ReadonlyRootfs": True,
        "Tmpfs": {"/tmp": "rw,nosuid,nodev,size=536870912,mode=1777"},
        "Memory": 4 * 1024**3,
        "NanoCpus": 1_500_000_000,
        "PidsLimit": 1024,
        "NetworkMode": "bridge",
    },
    "Mounts": [
        {"Source": "/home/u/ws", "Destination": "/workspace", "RW": True},
        {"Source": "/cache/opencode", "Destination": "/opt/opencode/opencode", "RW": False},
    ],
}


def test_summary_of_a_hardened_container() -> None:
    summary = summarize("podman", PODMAN_INSPECT)
    assert summary["user"] == "1000:1000" and summary["noNewPrivileges"] and summary["readOnlyRoot"]
    assert summary["cpus"] == 1.5 and summary["pidsLimit"] == 1024 and summary["memoryBytes"] == 4 * 1024**3
    assert summary["mounts"][1] == {"source": "/cache/opencode", "target": "/opt/opencode/opencode", "readOnly": True}
    text = render_settings(summary)
    assert "no-new-privs  yes" in text and "memory        4 GiB" in text and "(ro)" in text


def test_summary_of_an_unhardened_container_says_so() -> None:
    summary = summarize("docker", {"Config": {}, "HostConfig": {"CpuQuota": 50000, "CpuPeriod": 100000}})
    assert summary["cpus"] == 0.5 and summary["user"] == "(image default)"
    text = render_settings(summary)
    assert "no-new-privs  NO" in text and "read-only /   NO" in text and "pids limit    unlimited" in text


def test_apple_container_document_is_shown_as_it_comes() -> None:
    summary = summarize("container", {"configuration": {"resources": {"cpus": 1}}})
    assert summary == {"engine": "container", "configuration": {"resources": {"cpus": 1}}}


def test_inspect_argv_per_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENWORK_SANDBOX_ENGINE_ARGS", "--runtime runc -- --ulimit nproc=1")
    podman = engine_at("podman", "/usr/bin/podman")
    assert isinstance(podman, DockerLikeEngine)
    assert podman.inspect_argv("x") == ["/usr/bin/podman", "--runtime", "runc", "inspect", "--type", "container", "x"]
    apple = engine_at("container", "/usr/local/bin/container")
    assert isinstance(apple, AppleContainerEngine) and apple.inspect_argv("x") == [
        "/usr/local/bin/container",
        "inspect",
        "x",
    ]


def test_inspect_without_a_running_server_exits_1(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["sandbox", "inspect", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1 and "no sandboxed server running" in result.output


def config(tmp_path: Path, **kwargs: object) -> ServerConfig:
    return ServerConfig(workspace=tmp_path, data_dir=tmp_path, **kwargs)  # type: ignore[arg-type]


def test_limit_flags_reach_the_sandbox_limits(tmp_path: Path) -> None:
    limits = config(tmp_path, sandbox_memory="2g", sandbox_cpus=0.5, sandbox_network="default").sandbox_limits()
    assert (limits.memory_bytes, limits.cpus, limits.network) == (2 * 1024**3, 0.5, "default")
    defaults = config(tmp_path).sandbox_limits()
    assert (defaults.memory_bytes, defaults.cpus, defaults.network) == (DEFAULT_MEMORY_BYTES, default_cpus(), "default")


@pytest.mark.parametrize(
    "kwargs",
    [{"sandbox_memory": "lots"}, {"sandbox_memory": "1m"}, {"sandbox_cpus": 0.0}, {"sandbox_network": "none"}],
)
def test_impossible_limits_are_refused_when_the_config_is_built(tmp_path: Path, kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        config(tmp_path, **kwargs)


def test_inspect_asks_the_servers_engine_about_its_container(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    import subprocess

    import openwork.cli.sandbox as command

    calls: list[list[str]] = []

    def fake_run(argv: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, stdout=json.dumps([PODMAN_INSPECT]), stderr="")

    monkeypatch.setattr(command, "server_record", lambda _: {"url": "http://127.0.0.1:1"})
    sandbox = {"engine": "podman", "cli": "/usr/bin/podman", "container": "openwork-run_1"}
    monkeypatch.setattr(command, "request", lambda *a, **k: {"healthy": True, "sandbox": sandbox})
    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.delenv("OPENWORK_SANDBOX_ENGINE_ARGS", raising=False)
    result = CliRunner().invoke(cli, ["sandbox", "inspect", "--json", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert calls == [["/usr/bin/podman", "inspect", "--type", "container", "openwork-run_1"]]
    assert json.loads(result.output)["user"] == "1000:1000"


def test_inspect_of_a_server_without_a_sandbox_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import openwork.cli.sandbox as command

    monkeypatch.setattr(command, "server_record", lambda _: {"url": "http://127.0.0.1:1"})
    monkeypatch.setattr(command, "request", lambda *a, **k: {"healthy": True})
    result = CliRunner().invoke(cli, ["sandbox", "inspect", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1 and "no sandboxed server running" in result.output
