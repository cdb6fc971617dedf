"""Hot reload: when a workspace's opencode config changes, dispose its opencode instance (debounced).

Watched per registered workspace: ``opencode.json``, ``opencode.jsonc`` and the ``.opencode/`` folders
opencode reads agents, commands, skills and plugins from. Polling a few stats is cheap, portable and
needs no watch limit; the scheduler that decides *when* to dispose is pure and unit-tested.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from openwork.constants import DEFAULT_HOT_RELOAD_COOLDOWN_MS, DEFAULT_HOT_RELOAD_DEBOUNCE_MS
from openwork.errors import OpenworkError
from openwork.logging import get_logger

__all__ = ["HotReloader", "ReloadScheduler", "config_fingerprint"]

log = get_logger("openwork.hotreload")

POLL_INTERVAL = 0.25
_FILES = ("opencode.json", "opencode.jsonc")
_DIRS = ("agent", "agents", "command", "commands", "skill", "skills", "plugin", "plugins", "tool", "tools")
_MAX_ENTRIES = 2000  # per workspace: a huge .opencode tree is not config


def config_fingerprint(root: Path) -> dict[str, tuple[int, int]]:
    """``{relative path: (mtime_ns, size)}`` of every watched config file of one workspace."""
    found: dict[str, tuple[int, int]] = {}

    def add(path: Path, rel: str) -> None:
        with contextlib.suppress(OSError):
            st = path.stat()
            found[rel] = (st.st_mtime_ns, st.st_size)

    for name in _FILES:
        add(root / name, name)
        add(root / ".opencode" / name, f".opencode/{name}")
    for name in _DIRS:
        base = root / ".opencode" / name
        if not base.is_dir():
            continue
        for folder, _dirs, files in os.walk(base):
            for file in files:
                if len(found) >= _MAX_ENTRIES:
                    return found
                full = Path(folder) / file
                add(full, str(full.relative_to(root)))
    return found


@dataclass
class ReloadScheduler:
    """Pure timing: a change arms a dispose ``debounce`` later (re-armed by further changes); two
    disposes of one workspace are at least ``cooldown`` apart. Times in seconds."""

    debounce: float
    cooldown: float
    _due: dict[str, float] = field(default_factory=dict)
    _last: dict[str, float] = field(default_factory=dict)
    _paths: dict[str, set[str]] = field(default_factory=dict)

    def changed(self, workspace_id: str, paths: set[str], now: float) -> None:
        self._due[workspace_id] = max(now + self.debounce, self._last.get(workspace_id, -1e18) + self.cooldown)
        self._paths.setdefault(workspace_id, set()).update(paths)

    def due(self, now: float) -> list[tuple[str, set[str]]]:
        ready = [ws for ws, at in self._due.items() if at <= now]
        out = []
        for ws in ready:
            del self._due[ws]
            self._last[ws] = now
            out.append((ws, self._paths.pop(ws, set())))
        return out

    def next_due(self) -> float | None:
        return min(self._due.values()) if self._due else None


class HotReloader:
    def __init__(
        self,
        *,
        workspaces: Callable[[], list[tuple[str, str]]],
        dispose: Callable[[str, str], object],
        publish: Callable[[str, dict[str, object]], object],
        debounce_ms: int = DEFAULT_HOT_RELOAD_DEBOUNCE_MS,
        cooldown_ms: int = DEFAULT_HOT_RELOAD_COOLDOWN_MS,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._workspaces = workspaces  # () -> [(id, path)]
        self._dispose = dispose  # async (id, path) -> None
        self._publish = publish
        self._scheduler = ReloadScheduler(debounce_ms / 1000, cooldown_ms / 1000)
        self._clock = clock or asyncio.get_event_loop().time
        self._seen: dict[str, dict[str, tuple[int, int]]] = {}

    async def run(self) -> None:
        while True:
            await self.tick()
            await asyncio.sleep(POLL_INTERVAL)

    async def tick(self) -> None:
        now = self._clock()
        for ws_id, path in self._workspaces():
            current = await asyncio.to_thread(config_fingerprint, Path(path))
            before = self._seen.get(ws_id)
            self._seen[ws_id] = current
            if before is None:
                continue  # first look: a baseline, not a change
            changed = {p for p in set(before) | set(current) if before.get(p) != current.get(p)}
            if changed:
                self._scheduler.changed(ws_id, changed, now)
        for ws_id, paths in self._scheduler.due(now):
            folder = dict(self._workspaces()).get(ws_id)
            if folder is None:
                continue
            try:
                await self._dispose(ws_id, folder)  # type: ignore[misc]
                outcome = "disposed"
            except OpenworkError as exc:
                outcome = f"failed: {exc.message}"
            log.info("opencode.hot_reload", workspace=ws_id, paths=sorted(paths), outcome=outcome)
            self._publish("opencode.hot_reload", {"workspaceId": ws_id, "paths": sorted(paths), "outcome": outcome})
