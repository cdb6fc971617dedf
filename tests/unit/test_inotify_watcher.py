"""The workspace watcher: outside writes reach the change log, and stop() is prompt and releases its fds."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from openwork.files import changes as changes_module
from openwork.files.changes import ChangeLog, InotifyWatcher
from tests.helpers import wait_for


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _watch_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "openwork-files-watch"}


def test_outside_writes_are_seen_and_stop_is_prompt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The watcher's poll timeout made an hour long: stop() can only return in time if it wakes the
    # thread through its pipe. No clock is read; the hour is what a missed wake-up would cost.
    monkeypatch.setattr(changes_module, "WATCH_POLL_TIMEOUT", 3600.0)
    (tmp_path / "sub").mkdir()
    (tmp_path / "node_modules").mkdir()
    changes = ChangeLog()
    before = _fds()
    others = _watch_threads()
    watcher = InotifyWatcher(tmp_path, changes, frozenset({"node_modules"}))
    assert watcher.start()
    (thread,) = _watch_threads() - others
    (tmp_path / "sub" / "note.md").write_text("hello")
    (tmp_path / "node_modules" / "ignored.js").write_text("x")
    seen = wait_for(
        lambda: [c.path for c in changes.since(0, 100)[0] if c.path == "sub/note.md"], timeout=10, what="the change"
    )
    assert seen
    stopper = threading.Thread(target=watcher.stop, daemon=True)
    stopper.start()
    # woken through its pipe, not after its (hour-long) poll timeout
    wait_for(lambda: not stopper.is_alive(), timeout=30, what="stop() to return")
    assert not thread.is_alive()
    assert _fds() == before
    assert all(not c.path.startswith("node_modules") for c in changes.since(0, 100)[0])
