"""Sandbox command building and input rules (no engine runs here; the e2e suite runs podman)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from openwork.errors import ConfigError
from openwork.sandbox.engine import AppleContainerEngine, DockerLikeEngine, RunSpec, choose_engine
from openwork.sandbox.mounts import Mount, load_allowlist, parse_mount


def spec(tmp_path: Path, mounts: tuple[Mount, ...] = ()) -> RunSpec:
    return RunSpec(
        name="openwork-run_1",
        labels={"openwork.run": "run_1", "openwork.data": "abc"},
        image="img:1",
        host_port=40001,
        env_file=tmp_path / "sandbox.env",
        workspace=tmp_path / "ws",
        opencode_bin=Path("/cache/opencode"),
        persist_dir=tmp_path / "persist",
        mounts=mounts,
    )


def test_docker_like_argv(tmp_path: Path) -> None:
    engine = DockerLikeEngine(
        kind="podman", cli="/usr/bin/podman", extra=("--runtime", "runc"), run_extra=("--ulimit", "nofile=1024:1024")
    )
    extra = Mount(host=tmp_path / "data", name="data", read_only=True)
    argv = engine.run_argv(spec(tmp_path, (extra,)))
    assert argv[:4] == ["/usr/bin/podman", "--runtime", "runc", "run"]
    assert "--init" in argv and "--rm" in argv
    assert argv[argv.index("--publish") + 1] == "127.0.0.1:40001:4096"  # loopback only
    assert argv[argv.index("--env-file") + 1] == str(tmp_path / "sandbox.env")
    volumes = [argv[i + 1] for i, a in enumerate(argv) if a == "--volume"]
    assert f"{tmp_path / 'ws'}:/workspace" in volumes and "/cache/opencode:/opt/opencode/opencode:ro" in volumes
    assert f"{tmp_path / 'data'}:/workspace/extra/data:ro" in volumes
    assert "--label" in argv and "openwork.data=abc" in argv
    assert argv[-6:] == ["/opt/opencode/opencode", "serve", "--hostname", "0.0.0.0", "--port", "4096"]
    assert not any("PASSWORD" in a or "TOKEN" in a for a in argv)
    assert engine.remove_argv("x") == ["/usr/bin/podman", "--runtime", "runc", "rm", "--force", "x"]


def test_apple_container_argv(tmp_path: Path) -> None:
    argv = AppleContainerEngine(cli="/usr/local/bin/container").run_argv(spec(tmp_path))
    assert argv[:2] == ["/usr/local/bin/container", "run"]
    assert argv[argv.index("--publish") + 1] == "127.0.0.1:40001:4096"
    assert "--env-file" in argv and argv[-6] == "/opt/opencode/opencode"
    assert AppleContainerEngine().remove_argv("x") == ["container", "delete", "--force", "x"]


@pytest.fixture
def allowed(tmp_path: Path) -> list[Path]:
    (tmp_path / "shared" / "data").mkdir(parents=True)
    (tmp_path / "shared" / ".ssh").mkdir()
    (tmp_path / "shared" / "credentials.json").write_text("{}")
    (tmp_path / "elsewhere").mkdir()
    allowlist = tmp_path / "allow.json"
    allowlist.write_text(json.dumps({"allowedRoots": [str(tmp_path / "shared")]}))
    return load_allowlist(allowlist)


def test_good_mount(tmp_path: Path, allowed: list[Path]) -> None:
    mount = parse_mount(f"{tmp_path}/shared/data:data:ro", allowed)
    assert mount.host == (tmp_path / "shared" / "data").resolve() and mount.read_only and mount.name == "data"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{t}/elsewhere:x", "not inside an allowed root"),
        ("{t}/shared/.ssh:keys", "looks like a secret"),
        ("{t}/shared/credentials.json:c", "looks like a secret"),
        ("{t}/shared/data/../data:x", "without '..'"),
        ("{t}/shared/data:/etc", "plain name"),
        ("{t}/shared/data:..", "plain name"),
        ("{t}/shared/data:a/b", "plain name"),
        ("relative:x", "absolute path"),
        ("{t}/shared/missing:x", "does not exist"),
        ("{t}/shared/data:x:rwx", "expected HOST:NAME"),
        ("justonepart", "expected HOST:NAME"),
    ],
)
def test_bad_mounts_are_refused(tmp_path: Path, allowed: list[Path], template: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_mount(template.format(t=tmp_path), allowed)


def test_a_symlink_into_an_allowed_root_from_outside_is_judged_by_its_target(
    tmp_path: Path, allowed: list[Path]
) -> None:
    (tmp_path / "shared" / "link-out").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ConfigError, match="not inside an allowed root"):
        parse_mount(f"{tmp_path}/shared/link-out:x", allowed)


def test_missing_or_broken_engines_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    with pytest.raises(ConfigError, match=r"looked for docker \(not on PATH\), podman \(not on PATH\)"):
        choose_engine("auto")
    failing = tmp_path / "podman"
    failing.write_text("#!/bin/sh\necho 'cannot connect' >&2\nexit 125\n")
    failing.chmod(0o755)
    with pytest.raises(ConfigError, match="not usable"):
        choose_engine("podman", failing)
    with pytest.raises(ConfigError, match="unknown sandbox mode"):
        choose_engine("vm")
    assert os.environ["PATH"] == str(tmp_path)
