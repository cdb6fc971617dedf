"""A data dir written by the original itself (`daemon run` 0.18.1 on the opencode it supports, workspaces added
and switched with its CLI) is taken over by our server with the same ids, names and active workspace: what the
original's clients stored keeps working."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.compat.original import Original, old_opencode_for_daemon, original_binary
from tests.helpers import ServerProcess, free_ports

pytestmark = pytest.mark.e2e

ORIGINAL_READY = 150.0  # the original waits for its opencode (first run on a fresh machine) before it listens
STOP_WAIT = 30.0
# The original gives its opencode health loop 10 s (`waitForOpencodeHealthy`); this long after opencode's
# "listening" line with neither "Healthy" nor an exit, one of its probes is hung (see _start_original).
HUNG_PROBE = 30.0
POLL = 0.2


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        _kill_group(proc)
        proc.communicate(timeout=STOP_WAIT)


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """The original's daemon and its opencode: it runs in a session of its own (``Original.serve``)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _start_original(
    orig: Original, tmp_path: Path, state_file: Path, args: list[str], processes: list[subprocess.Popen[str]]
) -> subprocess.Popen[str]:
    """The original's own `daemon run` in the foreground (its `daemon start` re-executes a path inside its
    build), on free ports of its own (its defaults may be taken on a busy machine), once its state file says
    it listens.

    Started a second time, once, when it hangs on its own health probe: the original's probe is a `fetch`
    without a timeout, and opencode never answers a request that reaches it between accepting connections and
    serving them, so a probe that lands in that moment waits forever (seen once in three full runs under
    load). That is the original's defect; what this test is about is the data dir it writes."""
    for attempt in (1, 2):
        log = tmp_path / f"original-{attempt}.log"
        daemon_port, opencode_port = free_ports(2)
        ports = ["--daemon-port", str(daemon_port), "--opencode-port", str(opencode_port)]
        daemon = orig.serve(log, "daemon", "run", *args, *ports)
        processes.append(daemon)
        deadline = time.monotonic() + ORIGINAL_READY
        listening_since: float | None = None
        while time.monotonic() < deadline:
            output = log.read_text(errors="replace")
            assert daemon.poll() is None, f"the original daemon exited\n--- {log.name} ---\n{output[-4000:]}"
            state = _read_state(state_file)
            if state is not None and state.get("daemon"):
                return daemon
            if listening_since is None and "server listening" in output:
                listening_since = time.monotonic()
            if listening_since is not None and time.monotonic() - listening_since > HUNG_PROBE:
                break  # its health probe hangs: start it again
            time.sleep(POLL)
        else:
            raise AssertionError(
                f"the original daemon did not listen within {ORIGINAL_READY:g}s\n"
                f"--- {log.name} ---\n{log.read_text(errors='replace')[-4000:]}"
            )
        _kill_group(daemon)
        daemon.wait(timeout=STOP_WAIT)
    raise AssertionError(
        f"the original daemon hung on its health probe twice\n--- {log.name} ---\n"
        f"{log.read_text(errors='replace')[-4000:]}"
    )


def _read_state(path: Path) -> dict[str, Any] | None:
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):  # not written yet, or being written
        return None
    return state if isinstance(state, dict) else None


def test_the_original_data_dir_is_taken_over_with_its_ids(
    npm_cache: Path,
    opencode_bin: Path,
    tmp_path: Path,
    processes: list[subprocess.Popen[str]],
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENWORK_DATA_DIR"}
    # The original waits for its opencode's health, and opencode 1.17 answers it only after its start-up
    # reached models.dev and installed its default plugins: on a machine that reaches only some
    # registries that wait sometimes never ended (seen twice in full runs). What this test is about is
    # the data dir, so the original's opencode starts without the network.
    env |= {"OPENCODE_DISABLE_MODELS_FETCH": "1", "OPENCODE_DISABLE_DEFAULT_PLUGINS": "1"}
    orig = Original(original_binary(npm_cache), env)
    data = tmp_path / "original-data"
    folders = {name: tmp_path / name for name in ("alpha", "beta")}
    for folder in folders.values():
        folder.mkdir()
    d = ["--data-dir", str(data)]
    wrapped = tmp_path / "bin"
    wrapped.mkdir()
    old = ["--opencode-bin", str(old_opencode_for_daemon(npm_cache, wrapped)), "--allow-external"]
    state_file = data / "openwork-orchestrator-state.json"
    # Its opencode is in its process group: the `processes` fixture kills both, even after a failure.
    daemon = _start_original(orig, tmp_path, state_file, [*d, *old], processes)
    for name, folder in folders.items():
        orig.json("workspace", "add", str(folder), "--name", name, *d)
    orig.json("workspace", "switch", "beta", *d)
    before = orig.json("workspace", "list", *d)
    assert orig.json("daemon", "stop", *d) == {"ok": True}
    daemon.wait(timeout=STOP_WAIT)

    ours = ServerProcess(
        ["--port", "0", "--opencode-port", "0", "--allow-external", "--opencode-bin", str(opencode_bin), *d],
        env=env,
        command=("daemon", "run"),
    )
    try:
        ours.start(log_file=tmp_path / "ours.log")
        after = orig.json("workspace", "list", *d)
        taken = {w["id"]: (w["name"], w["path"]) for w in after["workspaces"]}
        assert taken == {w["id"]: (w["name"], w["path"]) for w in before["workspaces"]}
        assert after["activeId"] == before["activeId"] and taken[after["activeId"]][0] == "beta"
        assert "workspaces.legacy_imported" in ours.logs()
        assert json.loads(state_file.read_text())["cliVersion"].startswith("openwork-py/")
        assert orig.json("daemon", "stop", *d) == {"ok": True}
        assert ours.wait(timeout=STOP_WAIT) == 0
    finally:
        ours.stop()
