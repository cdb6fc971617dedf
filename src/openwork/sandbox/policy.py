"""What a sandboxed opencode may do: its user, its limits, its network. Engines render it (``engine.py``).

Least privilege is the default and cannot be switched off from here: no capabilities, no privilege gain,
a read-only root file system, and never uid 0. Only the limits and the network are choices.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from openwork.errors import ConfigError
from openwork.logging import get_logger

__all__ = [
    "DEFAULT_MEMORY_BYTES",
    "DEFAULT_PIDS_LIMIT",
    "DEFAULT_TMP_BYTES",
    "MIN_MEMORY_BYTES",
    "NETWORKS",
    "NOBODY",
    "PERSIST_SUBDIRS",
    "Network",
    "SandboxLimits",
    "SandboxPolicy",
    "default_cpus",
    "parse_memory",
    "prepare_persist",
    "workspace_user",
]

log = get_logger("openwork.sandbox")

MIB = 1024 * 1024
GIB = 1024 * MIB
DEFAULT_MEMORY_BYTES = 4 * GIB  # enough for opencode and a language server or two; leaves the host usable
MIN_MEMORY_BYTES = 256 * MIB  # below this opencode (a Bun binary) does not start
DEFAULT_PIDS_LIMIT = 1024  # opencode, its language servers and the shells it starts; a fork loop stops here
MIN_PIDS_LIMIT = 32  # the init process, opencode's threads and one shell
DEFAULT_TMP_BYTES = 512 * MIB  # the tmpfs at /tmp counts against the memory limit, so it is bounded too
NOBODY = 65534  # the unprivileged uid/gid used when the workspace folder belongs to root
PERSIST_SUBDIRS = ("home", "config", "data", "cache", "state")  # HOME and the XDG folders under /persist

Network = Literal["default", "none"]
NETWORKS: tuple[Network, ...] = ("default", "none")


def default_cpus() -> float:
    """The host's cores minus one (at least one), so the host stays responsive while opencode works."""
    return float(max(1, (os.cpu_count() or 1) - 1))


def parse_memory(text: str) -> int:
    """``4g``, ``512m``, ``4GiB``, ``1.5g`` or plain bytes, as bytes (at least ``MIN_MEMORY_BYTES``)."""
    from openwork.config import parse_size

    return parse_size(text, flag="--sandbox-memory", minimum=MIN_MEMORY_BYTES)


@dataclass(frozen=True, kw_only=True, slots=True)
class SandboxLimits:
    """What the user chooses (``--sandbox-memory``, ``--sandbox-cpus``, ``--sandbox-network``)."""

    memory_bytes: int = DEFAULT_MEMORY_BYTES
    cpus: float = field(default_factory=default_cpus)
    pids_limit: int = DEFAULT_PIDS_LIMIT
    tmp_bytes: int = DEFAULT_TMP_BYTES
    network: Network = "default"

    def __post_init__(self) -> None:
        if self.memory_bytes < MIN_MEMORY_BYTES:
            raise ConfigError(f"the sandbox memory limit must be at least {MIN_MEMORY_BYTES // MIB} MiB")
        if not 0 < self.cpus <= 1024:
            raise ConfigError("--sandbox-cpus must be more than 0")
        if self.pids_limit < MIN_PIDS_LIMIT:
            raise ConfigError(f"the sandbox pids limit must be at least {MIN_PIDS_LIMIT}")
        if not MIB <= self.tmp_bytes <= self.memory_bytes:
            raise ConfigError("the sandbox /tmp size must be between 1 MiB and the memory limit")
        if self.network not in NETWORKS:
            raise ConfigError(f"--sandbox-network {self.network!r}: use one of {', '.join(NETWORKS)}")
        if self.network == "none":
            # Measured with podman: --network=none discards the published port, so the server could not reach
            # opencode; an --internal network still reaches the host's 0.0.0.0 listeners through its bridge.
            raise ConfigError(
                "--sandbox-network none is not available yet: without a network the engine cannot publish "
                "opencode's port to the server",
                hint="use the default network and bind host services to 127.0.0.1 (see README, Sandbox mode)",
            )


@dataclass(frozen=True, kw_only=True, slots=True)
class SandboxPolicy:
    """Everything an engine's ``run`` is told about privilege: who runs, with which limits."""

    uid: int = NOBODY
    gid: int = NOBODY
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    rootless: bool = False  # the engine itself runs without root (podman: --userns=keep-id)

    def __post_init__(self) -> None:
        if self.uid == 0 or self.gid == 0:
            raise ConfigError("a sandboxed opencode never runs as uid or gid 0")
        if self.uid < 0 or self.gid < 0:
            raise ConfigError("uid and gid must not be negative")


def workspace_user(folder: Path) -> tuple[int, int]:
    """The uid:gid owning ``folder``; root's (or the root group's) becomes ``NOBODY``, with a warning."""
    try:
        info = folder.stat()
    except OSError as exc:
        raise ConfigError(f"cannot read the owner of the workspace {folder}: {exc}") from exc
    uid, gid = info.st_uid, info.st_gid
    if uid == 0 or gid == 0:
        log.warning(
            "sandbox.root_owned_workspace",
            workspace=str(folder),
            owner=f"{uid}:{gid}",
            runs_as=f"{uid or NOBODY}:{gid or NOBODY}",
            hint="chown the folder to the user who should own what the agent writes",
        )
    return uid or NOBODY, gid or NOBODY


def prepare_persist(persist: Path, uid: int, gid: int) -> None:
    """Create ``/persist``'s folders and, when we can (we are root), hand them to ``uid:gid``.

    Symlinks are never followed: the container writes here, and a planted link must not make us chown a
    host file. Without root the folders already belong to us, which is the workspace owner's uid in the
    usual case; otherwise opencode cannot write its state and says so in its log.
    """
    persist.mkdir(parents=True, exist_ok=True)
    for sub in PERSIST_SUBDIRS:
        (persist / sub).mkdir(exist_ok=True)
    if os.geteuid() != 0:
        return
    _lchown(persist, uid, gid)
    for root, dirs, files in os.walk(persist, followlinks=False):
        for name in (*dirs, *files):
            _lchown(Path(root) / name, uid, gid)


def _lchown(path: Path, uid: int, gid: int) -> None:
    try:
        info = path.lstat()
        if (info.st_uid, info.st_gid) != (uid, gid) and not stat.S_ISLNK(info.st_mode):
            os.chown(path, uid, gid, follow_symlinks=False)
    except OSError as exc:
        raise ConfigError(f"cannot hand {path} to uid {uid}: {exc}") from exc
