"""``openwork.cli.early``: opencode starts before click loads, and the guess is used only when click agrees.

The stand-in opencode is a real process on a real port (``tests/fixtures/fake_opencode.py``).
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from openwork.cli import early
from openwork.errors import OpenworkError
from openwork.lifecycle.gcpolicy import settle_after_start_up
from tests.helpers import FIXTURES, pid_alive, wait_for

FAKE = FIXTURES / "fake_opencode.py"


def argv(tmp_path: Path, *extra: str, binary: Path = FAKE) -> list[str]:
    workspace = tmp_path / "ws"
    workspace.mkdir(exist_ok=True)
    data = str(tmp_path / "data")
    return ["serve", "--port", "0", "--opencode-port", "0", "--workspace", str(workspace), "--data-dir", data,
            "--allow-external", "--opencode-bin", str(binary), "--no-opencode-router", *extra]  # fmt: skip


def environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("OPENWORK_")}


@pytest.fixture(autouse=True)
def nothing_left_pending() -> Iterator[None]:
    yield
    early.discard()
    # `begin` holds the collector back as a starting server does; give this process its own back.
    settle_after_start_up()
    gc.unfreeze()


def test_a_serve_command_line_starts_opencode_and_click_s_equal_values_take_it(tmp_path: Path) -> None:
    from openwork.cli.serve import serve_cmd

    line = argv(tmp_path, "--json")
    early.speculate(line, environ())
    params = dict(serve_cmd.make_context("serve", line[1:]).params)
    begun = early.take(params)
    assert begun is not None
    try:
        child = begun.launch.early
        assert child is not None and pid_alive(child.popen.pid)
        assert begun.config.workspace == (tmp_path / "ws").resolve()
        assert early.take(params) is None  # handed over once
    finally:
        begun.launch.close()
    assert wait_for(lambda: not pid_alive(child.popen.pid), timeout=10)


def test_different_values_undo_the_early_launch(tmp_path: Path) -> None:
    line = argv(tmp_path)
    early.speculate(line, environ())
    pending = early._pending
    assert pending is not None
    child = pending.launch.early
    assert child is not None
    other = {**pending.values, "approval_mode": "auto"}
    assert early.take(other) is None
    assert wait_for(lambda: not pid_alive(child.popen.pid), timeout=10)
    # the lock and the port were released: the ordinary path can begin the same run at once
    begun = early.begin(other)
    begun.launch.close()


def test_nothing_starts_for_other_commands_or_for_what_the_fast_reader_cannot_read(tmp_path: Path) -> None:
    for line in (["status"], ["start", "--detach"], argv(tmp_path, "--help"), argv(tmp_path, "--port", "x")):
        early.speculate(line, environ())
        assert early._pending is None, line
    assert not (tmp_path / "data").exists()  # nothing was created either


def test_a_problem_met_early_is_reported_once_click_confirms_the_command_line(tmp_path: Path) -> None:
    from openwork.cli.serve import serve_cmd

    line = argv(tmp_path, binary=tmp_path / "missing")
    early.speculate(line, environ())  # read fine; the launch itself fails, and is not tried again
    params = dict(serve_cmd.make_context("serve", line[1:]).params)
    with pytest.raises(OpenworkError, match="missing"):
        early.take(params)
    assert early.take(params) is None  # reported once; the ordinary path would meet it afresh


def test_a_failed_early_launch_is_forgotten_when_click_reads_other_values(tmp_path: Path) -> None:
    line = argv(tmp_path, binary=tmp_path / "missing")
    early.speculate(line, environ())
    values = early._guess(line, environ())
    assert values is not None
    assert early.take({**values, "approval_mode": "auto"}) is None


def test_the_command_reports_an_early_failure_as_the_ordinary_path_would(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "openwork", *argv(tmp_path, binary=tmp_path / "missing")],
        capture_output=True, text=True, timeout=60, env=environ(),
    )  # fmt: skip
    assert done.returncode != 0
    assert "error:" in done.stderr and "missing" in done.stderr
    assert "Traceback" not in done.stderr


def run_cli(args: list[str], code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60, env=environ()
    )


def test_the_entry_point_spawns_opencode_before_click_or_typing_load(tmp_path: Path) -> None:
    code = (
        "import sys, json; from openwork.cli import early;"
        "early.speculate(sys.argv[1:], {});"
        "p = early._pending; print(json.dumps({'spawned': p is not None and p.launch.early is not None,"
        " 'loaded': [m for m in ('click', 'typing', 'asyncio', 'structlog', 'tempfile') if m in sys.modules]}));"
        "early.discard()"
    )
    done = run_cli(argv(tmp_path), code)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"spawned": True, "loaded": []}
