"""What every child we spawn gets on top of its inherited environment: the user env store, the usual tool
folders on PATH, and loopback exempt from a proxy.

A host launched from a GUI lacks the shell's environment (API keys, PATH additions from shell profiles,
``NO_PROXY``); that is why the children — opencode, the router — get these. Our own binary resolution
never uses the widened PATH. The store is re-read at every spawn (a change applies at the next restart);
a store that turns corrupt keeps its last good values and says so in the log.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

from openwork.errors import ConfigError
from openwork.logging import get_logger
from openwork.runtime.envstore import env_store_path, load_env_store

__all__ = ["ChildEnv", "tool_dirs", "with_loopback_exempt", "with_tool_dirs"]

log = get_logger("openwork.env")

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_PROXY_KEYS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def tool_dirs(home: Path) -> list[Path]:
    """Where tools live that a login shell's profile would have put on PATH (those that exist)."""
    candidates = [
        home / ".local" / "bin",
        home / ".cargo" / "bin",
        home / ".pyenv" / "shims",
        home / ".volta" / "bin",
        home / ".local" / "share" / "fnm" / "aliases" / "default" / "bin",
        home / ".nvm" / "current" / "bin",
        home / ".bun" / "bin",
        Path("/opt/homebrew/bin"),
        Path("/home/linuxbrew/.linuxbrew/bin"),
        Path("/usr/local/bin"),
    ]
    return [p for p in candidates if p.is_dir()]


def with_tool_dirs(env: Mapping[str, str], home: Path) -> dict[str, str]:
    """``env`` with the tool folders that exist and are not on its PATH yet appended (its own order first)."""
    out = dict(env)
    current = [p for p in out.get("PATH", "").split(os.pathsep) if p]
    extra = [str(p) for p in tool_dirs(home) if str(p) not in current]
    if extra:
        out["PATH"] = os.pathsep.join([*current, *extra])
    return out


def with_loopback_exempt(env: Mapping[str, str]) -> dict[str, str]:
    """With a proxy set, loopback goes direct: a child talks to us and to opencode on 127.0.0.1."""
    out = dict(env)
    if not any(out.get(key) for key in _PROXY_KEYS):
        return out
    for key in ("NO_PROXY", "no_proxy"):
        have = [h.strip() for h in out.get(key, "").split(",") if h.strip()]
        out[key] = ",".join([*have, *(h for h in _LOOPBACK if h not in have)])
    return out


class ChildEnv:
    """The env store (re-read at every spawn, the last good values kept) and the environment fixes."""

    def __init__(
        self, store: Path | None = None, *, home: Path | None = None, redact: Callable[..., None] | None = None
    ) -> None:
        """``redact``: told every value read (the log redactor's ``add``): an API key a child echoes is
        scrubbed from the log like our own secrets."""
        self.store_path = store or env_store_path()
        self._home = home or Path.home()
        self._redact = redact
        self._last_good: dict[str, str] = {}
        self.error: str | None = None  # why the store could not be read the last time, if it could not

    def store(self) -> dict[str, str]:
        try:
            self._last_good = load_env_store(self.store_path)
            self.error = None
            if self._redact is not None:
                self._redact(*self._last_good.values())
        except ConfigError as exc:
            if exc.message != self.error:
                log.warning("env_store.invalid", error=exc.message, consequence="keeping its last good values")
            self.error = exc.message
        return dict(self._last_good)

    def apply(self, env: Mapping[str, str], *, keep: Collection[str] = ()) -> dict[str, str]:
        """A host child's environment: ``env`` with the store's values over it, then PATH and NO_PROXY.
        ``keep``: variables of ``env`` we set for the child ourselves (dev mode's XDG folders): they win."""
        store = {k: v for k, v in self.store().items() if k not in keep}
        return self.fixes({**env, **store})

    def fixes(self, env: Mapping[str, str]) -> dict[str, str]:
        """Only the environment fixes (tool folders on PATH, direct loopback): what a process that must not
        get the user's store (the container engine itself) still needs."""
        return with_loopback_exempt(with_tool_dirs(env, self._home))

    def for_container(self) -> dict[str, str]:
        """What a sandboxed child gets: the store's values, except PATH (the image has its own)."""
        return {k: v for k, v in self.store().items() if k != "PATH"}
