"""The single-server lock: exclusive across processes, released on exit however the holder dies."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from openwork.store.lock import DataDirLock, Held
from tests.helpers import wait_for


def test_second_holder_is_refused_until_the_first_releases(tmp_path: Path) -> None:
    first, second = DataDirLock(tmp_path / "server.lock"), DataDirLock(tmp_path / "server.lock")
    first.acquire()
    assert stat.S_IMODE((tmp_path / "server.lock").stat().st_mode) == 0o600
    with pytest.raises(Held):
        second.acquire()
    assert not second.held
    first.release()
    first.release()  # idempotent
    second.acquire()
    assert second.held
    second.release()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    path = tmp_path / "server.lock"
    ready = tmp_path / "ready"
    code = (
        "import sys, time; from pathlib import Path; from openwork.store.lock import DataDirLock;"
        f"DataDirLock(Path({str(path)!r})).acquire(); Path({str(ready)!r}).touch(); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code])
    try:
        wait_for(ready.exists, timeout=20, what="the holder to take the lock")
        with pytest.raises(Held):
            DataDirLock(path).acquire()
    finally:
        holder.kill()
        holder.wait(timeout=10)
    lock = DataDirLock(path)
    lock.acquire()  # SIGKILL released it: no cleanup was needed
    lock.release()
