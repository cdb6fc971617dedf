"""A locked database is waited for, then refused with a clear error: never taken for a corrupt one."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from openwork.auth.tokens import TokenService
from openwork.errors import StoreError
from openwork.store.db import Database

_HOLD_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA locking_mode=EXCLUSIVE")
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()  # hold the lock until the test closes our stdin
"""


@contextlib.contextmanager
def lock_held(path: Path) -> Iterator[None]:
    """Another process holds an exclusive lock on ``path`` until the block ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield
    finally:
        if holder.stdin is not None:
            holder.stdin.close()
        holder.wait(timeout=10)
        if holder.stdout is not None:
            holder.stdout.close()


def test_a_locked_database_is_refused_left_as_it_is_and_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "openwork.db"
    db = Database(path)
    token, _ = TokenService(db).mint(scope="viewer", label="keep me", ttl_seconds=None)
    db.close()
    with lock_held(path), pytest.raises(StoreError, match="another process holds a lock"):
        Database(path, busy_timeout=0.3)
    assert not list(path.parent.glob("*.corrupt-*")), "a healthy but locked database was quarantined"
    again = Database(path)
    assert [t.id for t in TokenService(again).list()] == [token.id]
    again.close()


def test_two_quarantines_in_one_second_keep_both_files(tmp_path: Path) -> None:
    path = tmp_path / "openwork.db"
    moved = []
    for text in (b"not a database, first", b"not a database, second"):
        path.write_bytes(text)
        db = Database(path)
        assert db.quarantined is not None
        moved.append(db.quarantined)
        db.close()
        path.unlink()
    assert moved[0] != moved[1]
    assert sorted(p.read_bytes() for p in moved) == [b"not a database, first", b"not a database, second"]
