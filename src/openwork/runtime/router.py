"""opencode-router: the optional messaging bridge, supervised like opencode once opencode is healthy.

Enablement, in order: ``--opencode-router`` / ``--no-opencode-router``; ``OPENWORK_OPENCODE_ROUTER``; the
workspace's ``.opencode/openwork.json`` (the original's ``{"messaging": {"enabled": true}}``, then our earlier
``{"opencodeRouter": {"enabled": true}}``); otherwise enabled
only when a router config exists at ``<data>/opencode-router/opencode-router.json``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from openwork.constants import DEFAULT_HEALTH_REQUEST_TIMEOUT, DEFAULT_START_PROBE_TIMEOUT
from openwork.runtime.childenv import ChildEnv
from openwork.runtime.loopback import no_tls, probe_health
from openwork.runtime.ports import pick_port
from openwork.sidecars.resolver import ResolvedBinary
from openwork.store.atomic import write_atomic
from openwork.supervisor.spawn import SpawnSpec

if TYPE_CHECKING:
    import httpx

__all__ = ["RouterDriver", "router_enabled", "router_paths"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def router_paths(data_dir: Path) -> tuple[Path, Path]:
    """``(config file, data dir)`` of the router, under our data dir."""
    root = data_dir / "opencode-router"
    return root / "opencode-router.json", root


def router_enabled(*, flag: bool | None, env: Mapping[str, str], workspace: Path, data_dir: Path) -> tuple[bool, str]:
    """Whether to run the router, and why (for the log)."""
    if flag is not None:
        return flag, "--opencode-router" if flag else "--no-opencode-router"
    raw = env.get("OPENWORK_OPENCODE_ROUTER", "").strip().lower()
    if raw in _TRUE | _FALSE:
        return raw in _TRUE, f"OPENWORK_OPENCODE_ROUTER={raw}"
    try:
        config = json.loads((workspace / ".opencode" / "openwork.json").read_text(encoding="utf-8"))
        for key in ("messaging", "opencodeRouter"):
            enabled = config.get(key, {}).get("enabled")
            if isinstance(enabled, bool):
                return enabled, f"{key}.enabled in the workspace's .opencode/openwork.json"
    except (OSError, ValueError, AttributeError):
        pass
    config_file, _ = router_paths(data_dir)
    if config_file.is_file():
        return True, f"configured ({config_file})"
    return False, "not configured"


class RouterDriver:
    """``ServiceDriver`` for the router. It needs opencode's URL and credentials (by environment)."""

    def __init__(
        self,
        *,
        binary: ResolvedBinary,
        workspace: Path,
        data_dir: Path,
        opencode_url: Callable[[], str],
        opencode_auth: tuple[str, str],
        base_env: Mapping[str, str],
        state_file: Path,
        preferred_port: int = 0,
        child_env: ChildEnv | None = None,
    ) -> None:
        self.binary = binary
        self.workspace = workspace
        self.port: int | None = None
        self.version: str | None = None
        self._data_dir = data_dir
        self._opencode_url = opencode_url
        self._auth = opencode_auth
        self._base_env = base_env
        self._child_env = child_env
        self._state_file = state_file  # read by the managed tools inside opencode
        self._preferred = preferred_port
        self._running = False
        self._client: httpx.AsyncClient | None = None

    @property
    def url(self) -> str | None:
        return f"http://127.0.0.1:{self.port}" if self.port else None

    async def after_exit(self) -> None:
        """Nothing outlives the process."""

    async def prepare(self) -> SpawnSpec:
        self.port = pick_port("127.0.0.1", self.port or self._preferred)
        config_file, data = router_paths(self._data_dir)
        data.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in self._base_env.items() if not k.startswith(("OPENWORK_", "OPENCODE_SERVER_"))}
        if self._child_env is not None:
            env = self._child_env.apply(env)
        env.update(
            OPENCODE_ROUTER_CONFIG_PATH=str(config_file),
            OPENCODE_ROUTER_DATA_DIR=str(data),
            OPENCODE_ROUTER_HEALTH_PORT=str(self.port),
            OPENCODE_SERVER_USERNAME=self._auth[0],
            OPENCODE_SERVER_PASSWORD=self._auth[1],
        )
        write_atomic(self._state_file, json.dumps({"url": self.url, "pid": os.getpid()}) + "\n", mode=0o644)
        argv = (str(self.binary.path), "serve", str(self.workspace), "--opencode-url", self._opencode_url())
        return SpawnSpec(name="router", argv=argv, env=env, cwd=self.workspace)

    def mark_running(self, running: bool) -> None:
        self._running = running

    async def healthy(self) -> bool:
        import httpx

        if self.url is None:
            return False
        if self._client is None:
            self._client = httpx.AsyncClient(trust_env=False, verify=no_tls())
        timeout = DEFAULT_HEALTH_REQUEST_TIMEOUT if self._running else DEFAULT_START_PROBE_TIMEOUT
        ok, version = await probe_health(self._client, self.url + "/health", timeout=timeout)
        self.version = version or self.version
        return ok

    async def health(self) -> dict[str, object] | None:
        """The router's own health answer, for ``GET /system/router/health``."""
        import httpx

        if self.url is None:
            return None
        try:
            async with httpx.AsyncClient(
                trust_env=False, timeout=DEFAULT_HEALTH_REQUEST_TIMEOUT, verify=no_tls()
            ) as client:
                response = await client.get(self.url + "/health")
            body = response.json()
        except (httpx.HTTPError, ValueError):
            return None
        return body if isinstance(body, dict) else {"body": body}

    def details(self) -> dict[str, object]:
        return {"port": self.port, "url": self.url, "version": self.version, "binary": self.binary.to_json()}

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
