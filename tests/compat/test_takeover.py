"""A data dir written by the original itself (`daemon run` 0.18.1 on the opencode it supports, workspaces added
and switched with its CLI) is taken over by our server with the same ids, names and active workspace: what the
original's clients stored keeps working."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.compat.original import Original, old_opencode_for_daemon, original_binary
from tests.helpers import ServerProcess, free_ports, wait_for

pytestmark = pytest.mark.e2e

ORIGINAL_READY = 150.0  # the original waits for its opencode (first run on a fresh machine) before it listens
STOP_WAIT = 30.0


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=STOP_WAIT)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def test_the_original_data_dir_is_taken_over_with_its_ids(
    npm_cache: Path,
    opencode_bin: Path,
    tmp_path: Path,
    processes: list[subprocess.Popen[str]],
    request: pytest.FixtureRequest,
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
    # The original's own daemon, in the foreground (its `daemon start` re-executes a path inside its build).
    # Its own ports, chosen free: its defaults (opencode 4096) may be taken on a busy machine.
    daemon_port, opencode_port = free_ports(2)
    ports = ["--daemon-port", str(daemon_port), "--opencode-port", str(opencode_port)]
    log = tmp_path / "original.log"
    wrapped = tmp_path / "bin"
    wrapped.mkdir()
    old = ["--opencode-bin", str(old_opencode_for_daemon(npm_cache, wrapped)), "--allow-external"]
    daemon = orig.serve(log, "daemon", "run", *d, *ports, *old)
    processes.append(daemon)
    state_file = data / "openwork-orchestrator-state.json"

    def listening() -> dict[str, Any] | None:
        assert daemon.poll() is None, log.read_text(errors="replace")[-4000:]
        if not state_file.exists():
            return None
        state: dict[str, Any] = json.loads(state_file.read_text())
        return state if state.get("daemon") else None

    try:
        started = wait_for(listening, timeout=ORIGINAL_READY, interval=0.2, what="the original daemon")
    except AssertionError as exc:  # what the original said is the only clue to why it never listened
        raise AssertionError(f"{exc}\n--- original.log ---\n{log.read_text(errors='replace')[-4000:]}") from None
    # The original's opencode is its own child: when a failure kills the daemon, it would outlive the test.
    opencode_pid = int(started["opencode"]["pid"])
    request.addfinalizer(lambda: _kill(opencode_pid))
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
