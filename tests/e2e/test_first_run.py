"""A first run on a fresh machine: an empty cache, a fresh data dir, and the first command that needs the
daemon downloads opencode (from the npm registry) before it starts it; a second data dir shares the cache."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from openwork.sidecars.components import OPENCODE_VERSION
from openwork.sidecars.targets import current_target
from tests.helpers import OPENWORK

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DOWNLOAD_DEADLINE = 600.0  # a hang, not a measurement: the download of ~60 MB compressed


def _run(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPENWORK, *args], capture_output=True, text=True, env=env, timeout=timeout)


def test_the_first_command_downloads_then_a_second_data_dir_does_not(tmp_path: Path, npm_cache: Path) -> None:
    sidecars = tmp_path / "sidecars"  # an empty cache
    base = {**os.environ, "OPENWORK_SIDECAR_DIR": str(sidecars), "OPENWORK_PORT": "0"}
    base["npm_config_cache"] = str(npm_cache)
    binary = sidecars / "opencode" / OPENCODE_VERSION / current_target() / "opencode"
    stamps = []
    for n in (1, 2):
        env = {**base, "OPENWORK_DATA_DIR": str(tmp_path / f"data{n}")}
        folder = tmp_path / f"project{n}"
        folder.mkdir()
        try:
            added = _run(env, "workspace", "add", str(folder), "--json", timeout=DOWNLOAD_DEADLINE)
            assert added.returncode == 0, added.stderr
            assert binary.is_file()
            stamps.append((binary.stat().st_ino, binary.stat().st_mtime_ns))
            downloaded = "npm registry" in added.stderr or "installed opencode" in added.stderr
            assert downloaded is (n == 1), added.stderr  # the second data dir found it in the shared cache
        finally:
            stopped = _run(env, "daemon", "stop", "--json")
            assert stopped.returncode == 0, stopped.stderr
    assert stamps[0] == stamps[1]  # the same file: not fetched again
