"""The log file of a real run, read back with `openwork logs` (once, and following)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from openwork.paths import DataDir
from tests.helpers import OPENWORK, ServerProcess, wait_for

pytestmark = pytest.mark.e2e


def logs(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPENWORK, "logs", *args], capture_output=True, text=True, timeout=30)


def test_a_run_leaves_a_private_redacted_log_that_logs_reads(
    real_server: Callable[..., ServerProcess], isolated_env: Path
) -> None:
    server = real_server()
    log_file = DataDir(isolated_env).log_file
    assert log_file.stat().st_mode & 0o777 == 0o600
    wait_for(lambda: '"service":"opencode"' in log_file.read_text(), timeout=20, what="opencode's output in the file")
    done = logs("--json", "--service", "opencode")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert records and all(r["attributes"]["service"] == "opencode" for r in records)
    text = logs("-n", "5").stdout.splitlines()
    assert 0 < len(text) <= 5 and all(line[:4].isdigit() and "[" in line for line in text)
    # The tokens and opencode's password are in memory, never in the file.
    with server.client() as client:
        client.get("/system/status")
    content = log_file.read_text()
    assert server.info["clientToken"] not in content and server.info["hostToken"] not in content
    # The same lines from a server's API (the host token; by env, never in argv)
    env = {**os.environ, "OPENWORK_HOST_TOKEN": server.info["hostToken"]}
    remote = subprocess.run(
        [*OPENWORK, "logs", "--openwork-url", server.url, "--service", "opencode", "--json"],
        capture_output=True, text=True, timeout=30, env=env,
    )  # fmt: skip
    assert remote.returncode == 0, remote.stderr
    remote_records = [json.loads(line) for line in remote.stdout.splitlines()]
    assert remote_records and all(r["attributes"]["service"] == "opencode" for r in remote_records)


def test_follow_prints_lines_as_they_are_written(isolated_env: Path) -> None:
    log_file = DataDir(isolated_env).log_file
    log_file.parent.mkdir(parents=True)
    log_file.write_text(json.dumps({"timeUnixNano": "1", "body": "old", "attributes": {"service": "openwork"}}) + "\n")
    out = log_file.parent / "follow.out"
    with out.open("w") as sink:
        follower = subprocess.Popen([*OPENWORK, "logs", "-f", "-n", "1"], stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "old" in out.read_text(), timeout=20, what="the existing line")
        with log_file.open("a") as handle:
            record = {"timeUnixNano": "2", "body": "new line", "attributes": {"service": "opencode"}}
            handle.write(json.dumps(record) + "\n")
        wait_for(lambda: "new line" in out.read_text(), timeout=20, what="the appended line")
        # a rotation: the file is replaced; the new file is read from its start
        log_file.replace(log_file.with_name("openwork.jsonl.1"))
        log_file.write_text(json.dumps({"timeUnixNano": "3", "body": "after rotation", "attributes": {}}) + "\n")
        wait_for(lambda: "after rotation" in out.read_text(), timeout=20, what="the line after rotation")
    finally:
        follower.terminate()
        follower.wait(timeout=10)
