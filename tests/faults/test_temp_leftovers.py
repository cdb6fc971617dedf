"""A crash mid-write leaves no ``.owtmp-*`` file behind for good (issue 16, finding 11).

A real child process writes through ``ops.write_file`` and is SIGKILLed while its temp file is full but
not yet renamed; the next file service on the same data dir removes exactly what the journal lists. Then
a property over a small full-able filesystem: whatever mix of writes succeeds or fails for want of
space, no temp file, no journal entry and no fd outlives them.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from openwork.api import AppContext
from openwork.errors import InsufficientStorage
from openwork.files import ops
from openwork.files.service import FilesService
from openwork.files.tempjournal import JOURNAL_NAME, TEMP_PREFIX, TempJournal
from tests.fullfs import small_tmpfs
from tests.helpers import pid_alive

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bin"
CHILD_TIMEOUT = 30.0  # the child reaches its hang (imports, one write) well within this
SMALL_FS_KIB = 128  # two of the larger writes do not fit
UNLISTED = f"{TEMP_PREFIX}0123456789ab"  # temp-looking, but no journal ever listed it


def _temps(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.name.startswith(TEMP_PREFIX))


def _fds(*under: Path) -> set[str]:
    """This process's fds open on something under these folders (fds of unrelated objects that the
    garbage collector happens to close meanwhile do not count)."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if any(os.readlink(f"/proc/self/fd/{fd}").startswith(str(p)) for p in under):
                found.add(fd)
    return found


def _files_service(ctx: AppContext) -> FilesService:
    """A file service as the server builds it at start: over the same data dir, with the journal."""
    return FilesService(
        registry=ctx.registry, approvals=ctx.approvals, protected=ctx.files.protected, state_dir=ctx.config.dirs.state
    )


def test_a_write_killed_mid_way_leaves_a_temp_file_the_next_start_removes(ctx: AppContext, workspace: Path) -> None:
    journal = ctx.config.dirs.state / JOURNAL_NAME
    journal.parent.mkdir(parents=True, exist_ok=True)
    (workspace / "docs").mkdir()
    (workspace / "docs" / UNLISTED).write_text("not ours to remove\n")
    child = subprocess.Popen(
        [sys.executable, str(FIXTURES / "write_then_hang.py"), str(journal), str(workspace), "docs/big.bin", "65536"],
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], CHILD_TIMEOUT)
        assert ready, f"the child did not reach its hang within {CHILD_TIMEOUT}s"
        assert child.stdout.readline() == b"hanging\n"  # the temp file holds its data; the rename is next
        [leftover] = [p for p in _temps(workspace) if p.name != UNLISTED]
        assert leftover.stat().st_size == 65536
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(CHILD_TIMEOUT)
        if child.stdout is not None:
            child.stdout.close()
    assert not pid_alive(child.pid)
    assert leftover.exists() and not (workspace / "docs" / "big.bin").exists()  # the crash left it

    files = _files_service(ctx)  # the next start
    try:
        assert not leftover.exists()
        assert (workspace / "docs" / UNLISTED).read_text() == "not ours to remove\n"
        assert journal.read_bytes() == b""
    finally:
        files.close()


@pytest.fixture
def small_workspace(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "ws-fs", size_kib=SMALL_FS_KIB) as mount:
        yield mount


# Hypothesis favours small numbers; the sizes that fill the filesystem are drawn on purpose as well.
_SIZES = st.one_of(st.sampled_from((0, 1, 4096, 64 * 1024, 96 * 1024)), st.integers(0, 96 * 1024))
_WRITES = st.lists(
    st.tuples(st.sampled_from(("a.bin", "b.bin", "sub/c.bin", "sub/deeper/d.bin")), _SIZES),
    min_size=1,
    max_size=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(writes=_WRITES)
def test_writes_that_succeed_or_run_out_of_space_leave_no_temp_file_entry_or_fd(
    writes: list[tuple[str, int]], small_workspace: Path, tmp_path: Path
) -> None:
    journal = TempJournal(tmp_path / "run" / JOURNAL_NAME)
    journal.recover()
    for child in small_workspace.iterdir():  # each example starts from an empty filesystem
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    fds = _fds(small_workspace, tmp_path)
    root_fd = os.open(small_workspace, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for path, size in writes:
            try:
                ops.write_file(root_fd, tuple(path.split("/")), b"z" * size, if_match=None, force=True, journal=journal)
                event("written")
            except InsufficientStorage as exc:
                assert path in exc.message
                event("no space")
    finally:
        os.close(root_fd)
    assert _temps(small_workspace) == []
    assert journal.live == 0 and journal.path.read_bytes() == b""
    assert _fds(small_workspace, tmp_path) == fds
