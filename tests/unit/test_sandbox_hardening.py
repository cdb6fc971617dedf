"""Least privilege in each engine's argv, the workspace owner's uid, and the limits (no engine runs here)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from openwork.errors import ConfigError
from openwork.sandbox.engine import AppleContainerEngine, DockerLikeEngine, RunSpec
from openwork.sandbox.policy import (
    DEFAULT_MEMORY_BYTES,
    DEFAULT_PIDS_LIMIT,
    NOBODY,
    SandboxLimits,
    SandboxPolicy,
    default_cpus,
    parse_memory,
    prepare_persist,
    workspace_user,
)

GIB = 1024**3


def spec(tmp_path: Path, policy: SandboxPolicy) -> RunSpec:
    return RunSpec(
        name="openwork-run_1",
        labels={"openwork.run": "run_1"},
        image="img:1",
        host_port=40001,
        env_file=tmp_path / "sandbox.env",
        workspace=tmp_path / "ws",
        opencode_bin=Path("/cache/opencode"),
        persist_dir=tmp_path / "persist",
        policy=policy,
    )


POLICY = SandboxPolicy(uid=1000, gid=1001, limits=SandboxLimits(memory_bytes=2 * GIB, cpus=1.5, pids_limit=256))


@pytest.mark.parametrize("kind", ["docker", "podman"])
def test_docker_and_podman_run_with_least_privilege(tmp_path: Path, kind: str) -> None:
    argv = DockerLikeEngine(kind=kind, cli=kind).run_argv(spec(tmp_path, POLICY))
    image_at = argv.index("img:1")
    flags = argv[:image_at]  # nothing after the image is an engine flag
    for flag in (
        "--user=1000:1001",
        "--cap-drop=ALL",
        "--security-opt=no-new-privileges",
        "--read-only",
        "--pids-limit=256",
        f"--memory={2 * GIB}",
        f"--memory-swap={2 * GIB}",
        "--cpus=1.5",
    ):
        assert flags.count(flag) == 1, (flag, flags)
    tmpfs = [f for f in flags if f.startswith("--tmpfs=")]
    assert len(tmpfs) == 1 and tmpfs[0].startswith("--tmpfs=/tmp:rw,nosuid,nodev,size=") and "mode=1777" in tmpfs[0]
    assert not any(f.startswith("--cap-add") or f == "--privileged" for f in flags)
    assert "--network=none" not in flags  # egress stays open by default
    assert ("--read-only-tmpfs=false" in flags) is (kind == "podman")
    assert "--userns=keep-id" not in flags  # only rootless podman needs it


def test_rootless_podman_keeps_the_host_user_id(tmp_path: Path) -> None:
    rootless = SandboxPolicy(uid=1000, gid=1000, rootless=True)
    assert "--userns=keep-id" in DockerLikeEngine(kind="podman", cli="podman").run_argv(spec(tmp_path, rootless))
    assert "--userns=keep-id" not in DockerLikeEngine(kind="docker", cli="docker").run_argv(spec(tmp_path, rootless))


def test_network_none_is_refused_with_the_reason() -> None:
    # podman discards the published port with --network=none: the server could not reach opencode.
    with pytest.raises(ConfigError, match="cannot publish opencode's port") as refused:
        SandboxLimits(network="none")
    assert "127.0.0.1" in (refused.value.hint or "")


def test_host_quirks_come_after_the_hardening(tmp_path: Path) -> None:
    engine = DockerLikeEngine(kind="podman", cli="podman", run_extra=("--ulimit", "nproc=1000:1000"))
    argv = engine.run_argv(spec(tmp_path, POLICY))
    assert argv.index("--cap-drop=ALL") < argv.index("--ulimit") < argv.index("img:1")


def test_apple_container_expresses_what_it_supports(tmp_path: Path) -> None:
    argv = AppleContainerEngine(cli="container").run_argv(spec(tmp_path, POLICY))
    flags = argv[: argv.index("img:1")]
    assert flags[flags.index("--user") + 1] == "1000:1001"
    assert flags[flags.index("--memory") + 1] == "2048M"
    assert flags[flags.index("--cpus") + 1] == "1"  # whole virtual CPUs
    assert flags[flags.index("--tmpfs") + 1] == "/tmp"
    # Apple container has no such flags; each container is its own VM (see the README).
    assert not any(f.startswith(("--cap-drop", "--security-opt", "--pids-limit", "--read-only")) for f in flags)


def test_defaults_leave_the_host_usable(monkeypatch: pytest.MonkeyPatch) -> None:
    limits = SandboxLimits()
    assert limits.memory_bytes == DEFAULT_MEMORY_BYTES == 4 * GIB and limits.pids_limit == DEFAULT_PIDS_LIMIT
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert default_cpus() == 7
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert default_cpus() == 1
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert default_cpus() == 1


def test_never_uid_or_gid_zero() -> None:
    with pytest.raises(ConfigError, match="never runs as uid or gid 0"):
        SandboxPolicy(uid=0, gid=1000)
    with pytest.raises(ConfigError, match="never runs as uid or gid 0"):
        SandboxPolicy(uid=1000, gid=0)
    assert SandboxPolicy().uid == NOBODY


@pytest.mark.parametrize(
    ("text", "expected"),
    [("4g", 4 * GIB), ("4GiB", 4 * GIB), ("512m", 512 * 1024**2), ("1.5g", int(1.5 * GIB)), (str(GIB), GIB)],
)
def test_memory_sizes(text: str, expected: int) -> None:
    assert parse_memory(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "4x", "-1g", "1m"])
def test_bad_memory_sizes_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="--sandbox-memory"):
        parse_memory(text)


@pytest.mark.parametrize(
    "kwargs",
    [{"memory_bytes": 1024}, {"cpus": 0}, {"pids_limit": 1}, {"tmp_bytes": 8 * GIB}, {"network": "host"}],
)
def test_impossible_limits_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        SandboxLimits(**kwargs)  # type: ignore[arg-type]


def test_the_workspace_owner_is_the_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "ws"
    folder.mkdir()

    class FakeStat:
        def __init__(self, uid: int, gid: int) -> None:
            self.st_uid, self.st_gid = uid, gid

    monkeypatch.setattr(Path, "stat", lambda self, **_: FakeStat(1000, 1000))
    assert workspace_user(folder) == (1000, 1000)
    monkeypatch.setattr(Path, "stat", lambda self, **_: FakeStat(0, 0))
    assert workspace_user(folder) == (NOBODY, NOBODY)  # root's folder: nobody, never 0
    monkeypatch.setattr(Path, "stat", lambda self, **_: FakeStat(1000, 0))
    assert workspace_user(folder) == (1000, NOBODY)


def test_a_root_owned_workspace_warns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from openwork.logging import capture_logs

    class FakeStat:
        st_uid = st_gid = 0

    monkeypatch.setattr(Path, "stat", lambda self, **_: FakeStat())
    with capture_logs() as events:
        workspace_user(tmp_path)
    assert [e["event"] for e in events] == ["sandbox.root_owned_workspace"]
    assert events[0]["runs_as"] == f"{NOBODY}:{NOBODY}"


def test_a_missing_workspace_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the owner"):
        workspace_user(tmp_path / "missing")


def test_persist_is_handed_to_the_user_without_following_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    persist = tmp_path / "persist"
    outside = tmp_path / "outside.txt"
    outside.write_text("host file")
    persist.mkdir()
    (persist / "planted").symlink_to(outside)
    chowned: list[tuple[str, int, int, bool]] = []
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(
        os,
        "chown",
        lambda path, uid, gid, *, follow_symlinks=True: chowned.append((str(path), uid, gid, follow_symlinks)),
    )
    prepare_persist(persist, 1000, 1000)
    for sub in ("home", "config", "data", "cache", "state"):
        assert (persist / sub).is_dir()
        assert (str(persist / sub), 1000, 1000, False) in chowned
    assert (str(persist), 1000, 1000, False) in chowned
    assert not any(path.endswith("planted") or path == str(outside) for path, *_ in chowned)


def test_persist_is_not_chowned_without_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(os, "chown", lambda *a, **k: pytest.fail("chown without root"))
    prepare_persist(tmp_path / "persist", 1000, 1000)
    assert (tmp_path / "persist" / "home").is_dir()


def _driver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine_calls: list[list[str]], **extra: Any) -> Any:
    """A sandbox driver whose engine calls are recorded, not run (its workspace owned by 1000:1001)."""
    from openwork.auth.credentials import Credentials
    from openwork.sandbox import driver as driver_module
    from openwork.sandbox.driver import SandboxDriver
    from openwork.sidecars.resolver import ResolvedBinary

    workspace = tmp_path / "ws"
    workspace.mkdir(parents=True)

    async def no_engine(argv: list[str]) -> tuple[int, str]:
        engine_calls.append(argv)
        return 0, ""

    monkeypatch.setattr(driver_module, "_run", no_engine)
    monkeypatch.setattr(driver_module, "workspace_user", lambda folder: (1000, 1001))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # not root: rootless podman, no chown
    binary = ResolvedBinary(
        component="opencode", path=Path("/bin/true"), source="external", target="linux-x64", version=None,
        sha256=None, how="test",
    )  # fmt: skip
    return SandboxDriver(
        binary=binary,
        container_binary=Path("/bin/true"),
        workspace=workspace,
        credentials=Credentials(client_token="c" * 32, host_token="h" * 32),
        base_env={},
        engine=DockerLikeEngine(kind="podman", cli="podman"),
        image="img:1",
        persist_dir=tmp_path / "persist",
        mounts=(),
        data_dir=tmp_path / "data",
        run_id="run_1",
        **{"preferred_port": 0, **extra},
    )


def test_the_driver_runs_the_workspace_owner_with_the_given_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    engine_calls: list[list[str]] = []
    driver = _driver(tmp_path, monkeypatch, engine_calls, limits=SandboxLimits(memory_bytes=GIB, cpus=0.5))
    spawn = asyncio.run(driver.prepare())
    argv = list(spawn.argv)
    for flag in ("--user=1000:1001", "--userns=keep-id", f"--memory={GIB}", "--cpus=0.5"):
        assert flag in argv, flag
    assert (tmp_path / "persist" / "home").is_dir()
    details = driver.details()["sandbox"]
    assert isinstance(details, dict) and details["user"] == "1000:1001" and details["network"] == "default"
    assert engine_calls == [["podman", "rm", "--force", "openwork-run_1"]]  # only the leftover check ran


def test_a_fixed_opencode_port_is_kept_in_the_sandbox_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The desktop's `daemon run --opencode-port P` talks to opencode at P: P even when it looks taken
    (the start then fails and is retried), never another port; without `fixed` a free one is chosen."""
    import asyncio
    import socket

    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        fixed = _driver(tmp_path / "a", monkeypatch, [], preferred_port=taken, fixed_port=True)
        loose = _driver(tmp_path / "b", monkeypatch, [], preferred_port=taken)
        published = [" ".join(asyncio.run(d.prepare()).argv) for d in (fixed, loose)]
    assert f"127.0.0.1:{taken}:" in published[0]
    assert f"127.0.0.1:{taken}:" not in published[1] and loose.port != taken
