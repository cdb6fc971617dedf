"""The workspace watcher: outside writes reach the change log, and stop() is prompt and releases its fds."""

from __future__ import annotations

import os
import time
from pathlib import Path

from openwork.files.changes import WATCH_POLL_TIMEOUT, ChangeLog, InotifyWatcher
from tests.helpers import wait_for


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_outside_writes_are_seen_and_stop_is_prompt(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "node_modules").mkdir()
    changes = ChangeLog()
    before = _fds()
    watcher = InotifyWatcher(tmp_path, changes, frozenset({"node_modules"}))
    assert watcher.start()
    (tmp_path / "sub" / "note.md").write_text("hello")
    (tmp_path / "node_modules" / "ignored.js").write_text("x")
    seen = wait_for(
        lambda: [c.path for c in changes.since(0, 100)[0] if c.path == "sub/note.md"], timeout=10, what="the change"
    )
    assert seen
    began = time.monotonic()
    watcher.stop()
    # woken through its pipe, not after its poll timeout
    assert time.monotonic() - began < WATCH_POLL_TIMEOUT / 2
    assert _fds() == before
    assert all(not c.path.startswith("node_modules") for c in changes.since(0, 100)[0])
