"""How opencode is started and probed: ``opencode serve`` on loopback with basic auth from the env."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from openwork.auth.credentials import Credentials, OpencodeLogin
from openwork.config import ServerConfig
from openwork.constants import DEFAULT_HEALTH_REQUEST_TIMEOUT, DEFAULT_START_PROBE_TIMEOUT
from openwork.runtime.childenv import ChildEnv
from openwork.runtime.loopback import no_tls, probe_health
from openwork.runtime.ports import start_port
from openwork.runtime.tools import opencode_config_dir
from openwork.sidecars.resolver import ResolvedBinary
from openwork.supervisor.spawn import SpawnSpec

if TYPE_CHECKING:
    import httpx

__all__ = [
    "DEV_ENV_KEYS",
    "HEALTH_PATH",
    "OpencodeDriver",
    "opencode_env",
    "opencode_spec",
    "stack_keeps",
    "stack_opencode_env",
]

HEALTH_PATH = "/global/health"
_DEV_DIRS = ("config", "data", "cache", "state")
DEV_ENV_KEYS = tuple(f"XDG_{name.upper()}_HOME" for name in _DEV_DIRS)  # dev mode's own opencode folders


def opencode_env(
    *,
    login: OpencodeLogin,
    data_dir: Path,
    dev_mode: bool,
    base: Mapping[str, str] | None = None,
    config_dir: Path | None = None,
) -> dict[str, str]:
    """The child's complete environment. The user's variables pass through (opencode needs provider
    keys and PATH), except ours: no ``OPENWORK_*`` value, tokens included, reaches opencode."""
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if not k.startswith(("OPENWORK_", "OPENCODE_SERVER_"))}
    env["OPENCODE_SERVER_USERNAME"] = login.username
    env["OPENCODE_SERVER_PASSWORD"] = login.password
    env["OPENCODE_DISABLE_AUTOUPDATE"] = "1"  # versions are managed by openwork, not by opencode
    if config_dir is not None:
        env["OPENCODE_CONFIG_DIR"] = str(config_dir)  # our managed tools; the user's config stays untouched
    if dev_mode:
        root = data_dir / "opencode-dev"
        for name in _DEV_DIRS:
            path = root / name
            path.mkdir(parents=True, exist_ok=True)
            env[f"XDG_{name.upper()}_HOME"] = str(path)
    return env


def stack_keeps(config: ServerConfig) -> tuple[str, ...]:
    """What the user env store must not override in a stack's opencode: dev mode's isolated folders."""
    return DEV_ENV_KEYS if config.dev_mode else ()


def stack_opencode_env(config: ServerConfig, login: OpencodeLogin, *, router: bool) -> dict[str, str]:
    """opencode's environment in a stack: the router's managed tools dir only while the router runs."""
    return opencode_env(
        login=login,
        data_dir=config.data_dir,
        dev_mode=config.dev_mode,
        config_dir=opencode_config_dir(config.data_dir) if router else None,
    )


def opencode_spec(
    *, binary: Path, host: str, port: int, env: Mapping[str, str], workspace: Path, cors: tuple[str, ...] = ()
) -> SpawnSpec:
    """``opencode serve`` on ``host:port`` in ``workspace``; ``cors``: opencode's own allowed origins."""
    argv: tuple[str, ...] = (str(binary), "serve", "--hostname", host, "--port", str(port))
    argv += tuple(arg for origin in cors for arg in ("--cors", origin))
    return SpawnSpec(name="opencode", argv=argv, env=env, cwd=workspace)


class OpencodeDriver:
    """``ServiceDriver`` for opencode."""

    def __init__(
        self,
        *,
        binary: ResolvedBinary,
        workspace: Path,
        credentials: Credentials,
        env: Mapping[str, str],
        host: str,
        preferred_port: int,
        fixed_port: bool = False,
        cors: tuple[str, ...] = (),
        child_env: ChildEnv | None = None,
        keep: tuple[str, ...] = (),
    ) -> None:
        """``child_env``: the env store and environment fixes applied at every spawn (none in unit tests);
        ``keep``: variables of ``env`` the store must not override."""
        self.binary = binary
        self.workspace = workspace
        self.host = host
        self.port: int | None = None
        self._running = False
        self.version: str | None = None
        self._preferred = preferred_port
        self._fixed = fixed_port
        self._cors = cors
        self._env = dict(env)
        self._child_env = child_env
        self._keep = keep
        self._credentials = (credentials.opencode_username, credentials.opencode_password)
        # httpx is imported on the first probe, after the spawn: its import is off the start-up path.
        self._client: httpx.AsyncClient | None = None

    @property
    def url(self) -> str | None:
        return f"http://{self.host}:{self.port}" if self.port else None

    @property
    def auth(self) -> httpx.BasicAuth:
        import httpx

        return httpx.BasicAuth(*self._credentials)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(
                timeout=DEFAULT_HEALTH_REQUEST_TIMEOUT,
                trust_env=False,
                auth=httpx.BasicAuth(*self._credentials),
                verify=no_tls(),
            )
        return self._client

    async def after_exit(self) -> None:
        """Nothing outlives the process."""

    async def reap_leftovers(self) -> list[str]:
        """What a crashed run left outside the process records (a sandbox's containers); here nothing."""
        return []

    def container_path(self, host_path: str) -> str:
        """Where a host folder is for opencode: itself (a sandbox maps it under /workspace)."""
        return host_path

    def spawn_env(self) -> dict[str, str]:
        """The child's environment for this spawn (the env store is read now)."""
        return self._child_env.apply(self._env, keep=self._keep) if self._child_env is not None else dict(self._env)

    async def prepare(self) -> SpawnSpec:
        self.port = start_port(self.host, self.port, self._preferred, fixed=self._fixed)
        return opencode_spec(
            binary=self.binary.path,
            host=self.host,
            port=self.port,
            env=self.spawn_env(),
            workspace=self.workspace,
            cors=self._cors,
        )

    def _probe_timeout(self) -> float:
        return DEFAULT_HEALTH_REQUEST_TIMEOUT if self._running else DEFAULT_START_PROBE_TIMEOUT

    def mark_running(self, running: bool) -> None:
        """The supervisor's view: probes of a running service may take longer than start probes."""
        self._running = running

    async def healthy(self) -> bool:
        if self.url is None:
            return False
        ok, version = await probe_health(self._http(), self.url + HEALTH_PATH, timeout=self._probe_timeout())
        self.version = version or self.version
        return ok

    def details(self) -> dict[str, object]:
        return {
            "port": self.port,
            "url": self.url,
            "version": self.version,
            "binary": self.binary.to_json(),
        }

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
