from __future__ import annotations

import os
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from openwork.errors import StoreError
from openwork.logging import capture_logs
from openwork.store.atomic import write_atomic
from openwork.store.db import MIGRATIONS, Database


def test_write_atomic_replaces_content_with_mode_0600(tmp_path: Path) -> None:
    target = tmp_path / "d" / "state.json"
    write_atomic(target, "one")
    write_atomic(target, b"two")
    assert target.read_text() == "two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["state.json"]


def test_stray_temp_file_from_a_crash_loses_nothing(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    write_atomic(target, "committed")
    # a crash between temp write and rename leaves exactly this behind
    (tmp_path / ".state.json.abc.tmp").write_text("half-writ")
    assert target.read_text() == "committed"
    write_atomic(target, "next")
    assert target.read_text() == "next"


def test_write_atomic_into_unwritable_dir_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError):
        write_atomic(blocker / "child", "data")


def test_new_database_is_migrated_wal_and_private(tmp_path: Path) -> None:
    db = Database(tmp_path / "openwork.db")
    assert db.schema_version == len(MIGRATIONS)
    assert db.query_one("PRAGMA journal_mode")[0] == "wal"  # type: ignore[index]
    assert stat.S_IMODE((tmp_path / "openwork.db").stat().st_mode) == 0o600
    db.close()
    again = Database(tmp_path / "openwork.db")  # reopening does not re-run migrations
    assert again.schema_version == len(MIGRATIONS)


def test_corrupt_database_is_quarantined_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "openwork.db"
    path.write_bytes(b"this is not a database" * 100)
    with capture_logs() as logs:
        db = Database(path)
    assert db.quarantined is not None and db.quarantined.exists()
    assert db.quarantined.read_bytes().startswith(b"this is not")
    assert db.schema_version == len(MIGRATIONS)
    assert any(e["event"] == "store.quarantined" and "corrupt" in e["message"] for e in logs)


def test_database_from_a_newer_openwork_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "openwork.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        Database(path)


def test_failed_transaction_writes_nothing(tmp_path: Path) -> None:
    db = Database(tmp_path / "db")
    with pytest.raises(StoreError), db.transaction() as conn:
        conn.execute("INSERT INTO meta VALUES ('a', '1')")
        conn.execute("INSERT INTO meta VALUES ('a', '2')")  # primary key clash
    assert db.query("SELECT * FROM meta") == []


def test_concurrent_writers_lose_no_update(tmp_path: Path) -> None:
    path = tmp_path / "db"
    Database(path).close()
    per_thread, threads = 50, 4

    def bump() -> None:
        db = Database(path)
        for _ in range(per_thread):
            with db.transaction() as conn:
                row = conn.execute("SELECT value FROM meta WHERE key='n'").fetchone()
                value = int(row[0]) + 1 if row else 1
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('n', ?)", (str(value),))
        db.close()

    workers = [threading.Thread(target=bump) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert Database(path).query_one("SELECT value FROM meta WHERE key='n'")[0] == str(per_thread * threads)  # type: ignore[index]
    assert not os.path.exists(str(path) + ".corrupt")
