"""The cache is shared by every data dir: pruning it never removes a binary a process is running."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from openwork.sidecars import cache
from tests.helpers import wait_for


def _entry(root: Path, version: str) -> Path:
    target = root / "opencode" / version / "linux-x64"
    target.mkdir(parents=True)
    binary = target / "opencode"
    shutil.copy2(shutil.which("sleep") or "/bin/sleep", binary)
    (target / "opencode.sha256").write_text("0" * 64 + "\n")
    return binary


def test_a_running_version_survives_a_prune(tmp_path: Path) -> None:
    root = tmp_path / "sidecars"
    running, idle = _entry(root, "9.9.1"), _entry(root, "9.9.2")
    proc = subprocess.Popen([str(running), "60"])
    try:
        wait_for(lambda: running in cache.running_binaries(), timeout=10, what="the copied binary running")
        removed = cache.prune(root, keep={})
        assert [e.version for e in removed] == ["9.9.2"] and running.is_file() and not idle.exists()
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert [e.version for e in cache.prune(root, keep={})] == ["9.9.1"] and not running.exists()
