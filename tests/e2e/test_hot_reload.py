"""Editing a workspace's opencode.json disposes its opencode instance exactly once per burst."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.helpers import ServerProcess, wait_for

pytestmark = pytest.mark.e2e


def collect_events(server: ServerProcess, seen: list[dict[str, object]], stop: threading.Event) -> None:
    headers = {"authorization": f"Bearer {server.info['clientToken']}"}
    timeout = httpx.Timeout(5, read=30)
    with (
        httpx.Client(base_url=server.url, headers=headers, timeout=timeout, trust_env=False) as client,
        client.stream("GET", "/system/events") as stream,
    ):
        for line in stream.iter_lines():
            if stop.is_set():
                return
            if line.startswith("data: "):
                seen.append(json.loads(line[6:]))


def test_one_dispose_per_burst_of_config_edits(real_server: Callable[..., ServerProcess], workspace: Path) -> None:
    server = real_server("--opencode-hot-reload-debounce-ms", "700", "--opencode-hot-reload-cooldown-ms", "1500")
    seen: list[dict[str, object]] = []
    stop = threading.Event()
    thread = threading.Thread(target=collect_events, args=(server, seen, stop), daemon=True)
    thread.start()
    wait_for(lambda: seen, timeout=10, what="the event stream's snapshot")

    config = workspace / "opencode.json"
    for i in range(3):  # a burst: an editor saving three times
        config.write_text(json.dumps({"$schema": "https://opencode.ai/config.json", "n": i}))
        time.sleep(0.1)  # the spacing of the saves is the scenario, well inside the debounce
    last_change = config.stat().st_mtime  # set by the kernel's coarse clock: never after the write

    def reloads() -> list[dict[str, object]]:
        return [e for e in seen if e.get("type") == "opencode.hot_reload"]

    first = wait_for(reloads, timeout=30, what="a hot reload")
    # The dispose was published after the burst's last change, a whole debounce after it: each change
    # re-arms the debounce. Both times are the server's and the kernel's records of the events, so a
    # loaded machine can only widen the gap, never narrow it.
    published_at = first[0]["at"]
    assert isinstance(published_at, float) and published_at - last_change >= 0.7, (published_at, last_change)
    data = first[0]["data"]
    assert data["outcome"] == "disposed" and data["paths"] == ["opencode.json"]  # type: ignore[index]
    # Watch a further window longer than debounce + cooldown: the burst gave exactly one dispose. The
    # waiting is the behaviour here (a second dispose would come within this window), not a guess.
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        assert len(reloads()) == 1
        time.sleep(0.1)
    stop.set()
