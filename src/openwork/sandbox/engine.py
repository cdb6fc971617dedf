"""Container engines behind one protocol: the argv they are given is built here, and only here."""

from __future__ import annotations

import os
import platform
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from openwork.errors import ConfigError
from openwork.sandbox.mounts import Mount
from openwork.sandbox.policy import SandboxPolicy

__all__ = [
    "CONTAINER_TMP",
    "AppleContainerEngine",
    "ContainerEngine",
    "DockerLikeEngine",
    "RunSpec",
    "choose_engine",
    "engine_at",
]

ENGINE_PROBE_TIMEOUT = 10.0  # `docker info` / `podman version` / `container --version`
CONTAINER_PORT = 4096  # above 1023: opencode binds it without CAP_NET_BIND_SERVICE
# A fresh tmpfs inside the container: the one writable place besides /workspace and /persist.
CONTAINER_TMP = "/tmp"  # noqa: S108 (a path in the container, not the host's /tmp)


@dataclass(frozen=True, kw_only=True, slots=True)
class RunSpec:
    name: str
    labels: dict[str, str]
    image: str
    host_port: int
    env_file: Path
    workspace: Path
    opencode_bin: Path
    persist_dir: Path
    mounts: tuple[Mount, ...] = ()
    policy: SandboxPolicy = field(default_factory=SandboxPolicy)
    command: tuple[str, ...] = field(
        default=("/opt/opencode/opencode", "serve", "--hostname", "0.0.0.0", "--port", str(CONTAINER_PORT))
    )


class ContainerEngine(Protocol):
    @property
    def kind(self) -> str: ...

    @property
    def cli(self) -> str: ...

    def run_argv(self, spec: RunSpec) -> list[str]: ...

    def hardening_argv(self, policy: SandboxPolicy) -> list[str]: ...

    def remove_argv(self, name: str) -> list[str]: ...

    def list_by_label_argv(self, label: str) -> list[str]: ...

    def inspect_argv(self, name: str) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class DockerLikeEngine:
    """docker and podman share this CLI. ``extra`` comes from ``OPENWORK_SANDBOX_ENGINE_ARGS`` (host quirks
    such as ``--runtime runc``); ``run_extra`` from the same variable's ``run`` part."""

    kind: str
    cli: str
    extra: tuple[str, ...] = ()
    run_extra: tuple[str, ...] = ()

    def run_argv(self, spec: RunSpec) -> list[str]:
        head = [self.cli, *self.extra, "run", "--rm", "--init", "--name", spec.name]
        return _run_argv(head, spec, hardening=self.hardening_argv(spec.policy), run_extra=self.run_extra)

    def hardening_argv(self, policy: SandboxPolicy) -> list[str]:
        """Least privilege, as docker and podman spell it; each setting once."""
        limits = policy.limits
        argv = [
            f"--user={policy.uid}:{policy.gid}",  # never root: the workspace owner (or nobody)
            # No capability is added back: opencode runs as a non-root uid, binds a port above 1023, and
            # writes only to folders its uid owns (/workspace, /persist, /tmp), so it needs none.
            "--cap-drop=ALL",
            "--security-opt=no-new-privileges",  # setuid binaries in the image cannot raise privileges
            "--read-only",
            f"--tmpfs={CONTAINER_TMP}:rw,nosuid,nodev,size={limits.tmp_bytes},mode=1777",
            f"--pids-limit={limits.pids_limit}",
            f"--memory={limits.memory_bytes}",
            f"--memory-swap={limits.memory_bytes}",  # equal to --memory: no swap on top of the limit
            f"--cpus={limits.cpus:g}",
        ]
        if self.kind == "podman":
            # podman's --read-only also mounts tmpfs on /run, /var/tmp and /dev; we name the one we want.
            argv.append("--read-only-tmpfs=false")
            if policy.rootless:
                argv.append("--userns=keep-id")  # the host user is the same uid inside, so files stay theirs
        return argv

    def remove_argv(self, name: str) -> list[str]:
        return [self.cli, *self.extra, "rm", "--force", name]

    def list_by_label_argv(self, label: str) -> list[str]:
        return [self.cli, *self.extra, "ps", "--all", "--filter", f"label={label}", "--format", "{{.Names}}"]

    def inspect_argv(self, name: str) -> list[str]:
        return [self.cli, *self.extra, "inspect", "--type", "container", name]


@dataclass(frozen=True, slots=True)
class AppleContainerEngine:
    """Apple's ``container`` CLI (macOS on Apple silicon). Its flags differ from docker's in places."""

    kind: str = "container"
    cli: str = "container"

    def run_argv(self, spec: RunSpec) -> list[str]:
        head = [self.cli, "run", "--rm", "--name", spec.name]
        return _run_argv(head, spec, hardening=self.hardening_argv(spec.policy), run_extra=())

    def hardening_argv(self, policy: SandboxPolicy) -> list[str]:
        """What Apple ``container`` can express. Each container is its own lightweight VM with its own
        kernel, so the host kernel is not shared; it has no flags for capabilities, no-new-privileges,
        a read-only root or a pids limit."""
        limits = policy.limits
        return [
            "--user",
            f"{policy.uid}:{policy.gid}",
            "--tmpfs",
            CONTAINER_TMP,
            "--memory",
            f"{max(1, limits.memory_bytes // (1024 * 1024))}M",  # 1 MiB granularity
            "--cpus",
            str(max(1, int(limits.cpus))),  # whole virtual CPUs only
        ]

    def remove_argv(self, name: str) -> list[str]:
        return [self.cli, "delete", "--force", name]

    def list_by_label_argv(self, label: str) -> list[str]:
        return [self.cli, "list", "--all", "--format", "json"]  # filtered by the caller

    def inspect_argv(self, name: str) -> list[str]:
        return [self.cli, "inspect", name]


def _run_argv(head: list[str], spec: RunSpec, *, hardening: list[str], run_extra: tuple[str, ...]) -> list[str]:
    """The ``run`` flags docker, podman and Apple ``container`` spell alike, around each engine's hardening.

    ``run_extra`` (host quirks) comes after the hardening; it is the operator's own escape hatch.
    """
    argv = list(head)
    for key, value in sorted(spec.labels.items()):
        argv += ["--label", f"{key}={value}"]
    argv += [
        *hardening,
        *run_extra,
        "--publish",
        f"127.0.0.1:{spec.host_port}:{CONTAINER_PORT}",  # loopback only
        "--env-file",
        str(spec.env_file),  # secrets by file (0600), never argv
        "--volume",
        f"{spec.workspace}:/workspace",
        "--volume",
        f"{spec.opencode_bin}:/opt/opencode/opencode:ro",
        "--volume",
        f"{spec.persist_dir}:/persist",
    ]
    for mount in spec.mounts:
        argv += ["--volume", f"{mount.host}:{mount.target}{':ro' if mount.read_only else ''}"]
    return [*argv, "--workdir", "/workspace", spec.image, *spec.command]


def _engine_args() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``OPENWORK_SANDBOX_ENGINE_ARGS="--runtime runc -- --ulimit nofile=1024:1024"``: global flags,
    then ``--``, then flags for ``run``."""
    raw = shlex.split(os.environ.get("OPENWORK_SANDBOX_ENGINE_ARGS", ""))
    if "--" in raw:
        cut = raw.index("--")
        return tuple(raw[:cut]), tuple(raw[cut + 1 :])
    return tuple(raw), ()


def _usable(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=ENGINE_PROBE_TIMEOUT, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def engine_at(kind: str, cli: str) -> ContainerEngine:
    """The engine a running server uses (its kind and CLI path as it reports them), without probing it."""
    if kind == "container":
        return AppleContainerEngine(cli=cli)
    extra, run_extra = _engine_args()
    return DockerLikeEngine(kind=kind, cli=cli, extra=extra, run_extra=run_extra)


def choose_engine(mode: str, override: Path | None = None) -> ContainerEngine:
    """``auto``: Apple ``container`` on Apple-silicon macOS, else docker, else podman — each only when usable."""
    extra, run_extra = _engine_args()
    candidates: list[str]
    if mode == "auto":
        candidates = (["container"] if sys.platform == "darwin" and platform.machine() == "arm64" else []) + [
            "docker",
            "podman",
        ]
    elif mode in ("docker", "podman", "container"):
        candidates = [mode]
    else:
        raise ConfigError(f"unknown sandbox mode {mode!r}; use none, auto, docker, podman or container")
    tried = []
    for kind in candidates:
        cli = str(override) if override else shutil.which(kind)
        if not cli:
            tried.append(f"{kind} (not on PATH)")
            continue
        probe = {"docker": [cli, *extra, "info"], "podman": [cli, *extra, "version"], "container": [cli, "--version"]}
        if not _usable(probe[kind]):
            tried.append(f"{kind} at {cli} (not usable: `{' '.join(probe[kind][-1:])}` failed)")
            continue
        if kind == "container":
            return AppleContainerEngine(cli=cli)
        return DockerLikeEngine(kind=kind, cli=cli, extra=extra, run_extra=run_extra)
    raise ConfigError(
        "no usable container engine for --sandbox " + mode + ": looked for " + ", ".join(tried),
        hint="install docker or podman, or pass --sandbox-engine PATH",
    )
