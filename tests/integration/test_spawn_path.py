"""What `openwork serve` has loaded when it spawns opencode.

opencode's boot is what a user waits for, so the way to its spawn carries only the command line, the
config, the lock, the listener and the supervisor; the HTTP stack, pydantic and the database load in a
thread while opencode boots (docs/benchmarks.md, "Start-up overhead"). The real server runs in a child
interpreter whose ``asyncio.create_subprocess_exec`` is wrapped by a recorder: it writes the loaded
modules of the list below at the moment of the first spawn, then spawns as usual.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers import FIXTURES, READY_TIMEOUT, serve_args, wait_for

FAKE = FIXTURES / "fake_opencode.py"
# Loaded later (the HTTP half) or never by a start without a sandbox.
LATER = ("pydantic", "rich", "fastapi", "starlette", "uvicorn", "httpx", "sqlite3", "openwork.api",
         "openwork.sandbox.driver", "openwork.store.db")

RECORDER = """
import asyncio, json, os, sys
out, later = sys.argv[1], json.loads(sys.argv[2])
real = asyncio.create_subprocess_exec

async def recording(*args, **kwargs):
    if not os.path.exists(out):  # the first spawn (the test checks it is opencode's)
        loaded = sorted(m for m in later if m in sys.modules)
        with open(out + ".tmp", "w") as handle:
            json.dump({"program": str(args[0]), "loaded": loaded}, handle)
        os.rename(out + ".tmp", out)
    return await real(*args, **kwargs)

asyncio.create_subprocess_exec = recording
sys.argv = ["openwork", *sys.argv[3:]]
from openwork.cli import main
main()
"""


def test_opencode_is_spawned_before_the_http_stack_loads(tmp_path: Path, isolated_env: Path, workspace: Path) -> None:
    out = tmp_path / "at-spawn.json"
    argv = [sys.executable, "-c", RECORDER, str(out), json.dumps(LATER), "serve", *serve_args(workspace, FAKE)]
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=sink)
    try:
        wait_for(lambda: out.exists() or proc.poll() is not None, timeout=READY_TIMEOUT, what="opencode spawned")
        assert out.exists(), f"the server exited ({proc.returncode}) before a spawn:\n{log.read_text()}"
        record = json.loads(out.read_text())
        assert record["program"] == str(FAKE.resolve())
        assert record["loaded"] == []
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=READY_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=READY_TIMEOUT)
