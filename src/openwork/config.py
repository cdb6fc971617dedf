"""Frozen, validated settings for one server process.

Precedence is flag > environment (``OPENWORK_*``, resolved by click) > default; this module only
validates what the edges hand it and fills in derived paths.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from openwork.constants import (
    DEFAULT_APPROVAL_TIMEOUT_MS,
    DEFAULT_HOT_RELOAD_COOLDOWN_MS,
    DEFAULT_HOT_RELOAD_DEBOUNCE_MS,
    DEFAULT_LOG_FILE_BACKUPS,
    DEFAULT_LOG_FILE_MAX_BYTES,
    DEFAULT_OPENCODE_PORT,
    DEFAULT_PORT,
    DEFAULT_PROXY_MAX_BODY,
    DEFAULT_SANDBOX_IMAGE,
    LOOPBACK,
)
from openwork.errors import ConfigError
from openwork.paths import DataDir, default_data_dir, user_sidecar_dir
from openwork.supervisor.policy import RestartPolicy, RestartWindow

if TYPE_CHECKING:  # the resolver's imports stay off the thin CLI's path
    from openwork.auth.credentials import OpencodeLogin
    from openwork.sandbox.policy import SandboxLimits
    from openwork.sidecars.resolver import SidecarSettings

LogFormat = Literal["pretty", "json"]

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_ORIGIN_RE = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+$")  # scheme://host[:port], nothing after it

__all__ = ["LogFormat", "ServerConfig", "default_data_dir", "new_run_id", "parse_size"]


def parse_size(text: str, *, flag: str, minimum: int) -> int:
    """``4g``, ``512m``, ``4GiB``, ``1.5g`` or plain bytes, as bytes (at least ``minimum``)."""
    match = _SIZE_RE.match(text)
    if not match:
        raise ConfigError(f"{flag} {text!r}: expected a size such as 4g, 512m or 4294967296")
    value = int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])
    if value < minimum:
        raise ConfigError(f"{flag} {text!r}: at least {minimum} bytes")
    return value


def new_run_id() -> str:
    """A short random id naming one run in logs and records."""
    return "run_" + os.urandom(6).hex()  # secrets.token_hex, without importing hmac and OpenSSL


@dataclass(frozen=True, kw_only=True, slots=True)
class ServerConfig:
    """Everything one ``openwork serve`` process needs, validated on construction."""

    workspace: Path
    data_dir: Path
    host: str = LOOPBACK
    port: int = DEFAULT_PORT
    sidecars: SidecarSettings | None = None  # None: defaults under the data dir
    opencode_port: int = DEFAULT_OPENCODE_PORT
    # `daemon run --opencode-port`: the caller talks to opencode there, so it never moves (see ports.start_port)
    opencode_port_fixed: bool = False
    opencode_host: str = LOOPBACK  # `daemon run --opencode-host`: 127.0.0.1 or ::1
    opencode_login: OpencodeLogin | None = None  # caller-chosen (openwork.auth.callerlogin); None: new per run
    opencode_cors: tuple[str, ...] = ()  # `daemon run --cors`: opencode's own CORS (`opencode serve --cors`)
    log_format: LogFormat = "pretty"
    log_max_bytes: int = DEFAULT_LOG_FILE_MAX_BYTES  # the log file rotates past this size
    log_backups: int = DEFAULT_LOG_FILE_BACKUPS  # rotated files kept
    log_console_level: str = "INFO"  # the console shows this level and above (the file keeps everything)
    env_store: Path | None = None  # the user env store (openwork.runtime.envstore); None: its default place
    run_id: str = field(default_factory=new_run_id)
    client_token: str | None = None
    host_token: str | None = None
    dev_mode: bool = False
    register_workspace: bool = True  # the daemon runs opencode in a scratch folder it does not register
    # Browser origins allowed to call us (``--cors``); "*" = any origin (tokens still required).
    cors_origins: tuple[str, ...] = ()
    proxy_max_body: int = DEFAULT_PROXY_MAX_BODY  # bytes of a request body streamed through the proxy
    approval_mode: Literal["auto", "manual"] = "manual"  # as the original: writes wait unless told otherwise
    approval_timeout_ms: int = DEFAULT_APPROVAL_TIMEOUT_MS
    files_allow_config_write: bool = False  # minted tokens may change git hooks / opencode config
    hot_reload: bool = True
    sandbox: str = "none"  # none | auto | docker | podman | container
    sandbox_engine: Path | None = None
    sandbox_image: str = DEFAULT_SANDBOX_IMAGE
    sandbox_persist_dir: Path | None = None  # default <data>/sandbox-persist
    sandbox_mounts: tuple[str, ...] = ()
    sandbox_memory: str | None = None  # e.g. "4g"; None: openwork.sandbox.policy.DEFAULT_MEMORY_BYTES
    sandbox_cpus: float | None = None  # None: the host's cores minus one (at least one)
    sandbox_network: str = "default"  # default | none
    router: bool | None = None  # None: decided by env, workspace config, or whether it is configured
    router_required: bool = False
    router_port: int = 0  # the router's health port; 0: a free one (3005 is often taken by dev servers)
    hot_reload_debounce_ms: int = DEFAULT_HOT_RELOAD_DEBOUNCE_MS
    hot_reload_cooldown_ms: int = DEFAULT_HOT_RELOAD_COOLDOWN_MS
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    window: RestartWindow = field(default_factory=RestartWindow)  # the windowed restart budget

    def __post_init__(self) -> None:
        if self.host not in (LOOPBACK, "localhost", "::1"):
            # The control API hands out opencode access; it is never exposed beyond loopback here.
            raise ConfigError(f"refusing to bind {self.host!r}: only loopback addresses are supported")
        if self.opencode_host not in (LOOPBACK, "::1"):
            raise ConfigError(
                f"refusing --opencode-host {self.opencode_host!r}: opencode listens on loopback only",
                hint="use 127.0.0.1 (or localhost, ::1); remote clients reach opencode through this server",
            )
        if self.opencode_port_fixed and not self.opencode_port:
            raise ConfigError("--opencode-port must name a port (not 0) when it is fixed")
        for origin in self.opencode_cors:
            if not origin or any(c.isspace() or ord(c) < 32 for c in origin):
                raise ConfigError(f"--cors {origin!r} is not an origin for opencode")
        if not 0 <= self.port <= 65535 or not 0 <= self.opencode_port <= 65535:
            raise ConfigError("ports must be between 0 and 65535")
        if not self.workspace.is_absolute() or not self.data_dir.is_absolute():
            raise ConfigError("workspace and data dir must be absolute paths")
        if not 1 <= self.approval_timeout_ms <= 3_600_000:
            raise ConfigError("approval timeout must be between 1 ms and one hour")
        for origin in self.cors_origins:
            if origin != "*" and not _ORIGIN_RE.match(origin):
                raise ConfigError(
                    f"--cors {origin!r} is not an origin", hint="give scheme://host[:port], e.g. https://app.example"
                )
        if self.sandbox_memory is not None or self.sandbox_cpus is not None or self.sandbox_network != "default":
            self.sandbox_limits()  # validated now, not when the container starts
        for name, value in (("client", self.client_token), ("host", self.host_token)):
            if value is not None and len(value) < 16:
                raise ConfigError(f"the {name} token must be at least 16 characters")

    def sandbox_limits(self) -> SandboxLimits:
        """``--sandbox-memory`` / ``--sandbox-cpus`` / ``--sandbox-network`` as the sandbox driver takes them."""
        from openwork.sandbox.policy import SandboxLimits, default_cpus, parse_memory

        defaults = SandboxLimits()
        return SandboxLimits(
            memory_bytes=parse_memory(self.sandbox_memory) if self.sandbox_memory else defaults.memory_bytes,
            cpus=self.sandbox_cpus if self.sandbox_cpus is not None else default_cpus(),
            network="none" if self.sandbox_network == "none" else "default",
        )

    @property
    def dirs(self) -> DataDir:
        """The data dir's layout."""
        return DataDir(self.data_dir)

    @property
    def sidecar_dir(self) -> Path:
        return self.sidecars.sidecar_dir if self.sidecars is not None else user_sidecar_dir()

    def sidecar_settings(self) -> SidecarSettings:
        from openwork.sidecars.resolver import SidecarSettings

        if self.sidecars is not None:
            return self.sidecars
        return SidecarSettings(sidecar_dir=self.sidecar_dir)
