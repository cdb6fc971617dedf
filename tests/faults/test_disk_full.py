"""A full disk is a 507 that says which path, never an opaque 500, and the server keeps serving
(issue 16, finding 8).

Real full filesystems: a small tmpfs mounted per test (root only; skipped with the reason otherwise),
filled to the last block, unmounted at teardown.
"""

from __future__ import annotations

import base64
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from openwork.api import AppContext
from openwork.api.app import create_app
from openwork.errors import InsufficientStorage, storage_full
from openwork.files import ops
from openwork.files.service import FilesService
from openwork.files.tempjournal import JOURNAL_NAME, TEMP_PREFIX, TempJournal
from openwork.store.db import Database
from tests.apphelpers import asgi_client, make_context
from tests.fullfs import FILLER, fill, small_tmpfs

pytestmark = pytest.mark.anyio

WORKSPACE_KIB = 512  # room for the workspace's few small files, then filled
DATA_KIB = 4096  # room for the database, its WAL and the tokens, then filled
BIG = 64 * 1024  # more than a full filesystem can take


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@contextlib.contextmanager
def _server(data_dir: Path, workspace: Path, **overrides: Any) -> Iterator[AppContext]:
    """An in-process server whose file service is built as the real one is (with the temp journal in
    the state dir); its watchers and store are closed after, so the filesystem can be unmounted."""
    ctx = make_context(data_dir, workspace, **overrides)
    ctx.files = FilesService(
        registry=ctx.registry,
        approvals=ctx.approvals,
        protected=ctx.files.protected,
        state_dir=ctx.config.dirs.state,
    )
    try:
        yield ctx
    finally:
        ctx.files.close()
        ctx.registry._db.close()  # make_context hands its store to the services and keeps no handle


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.startswith(TEMP_PREFIX)]


async def _session(ctx: AppContext, client: httpx.AsyncClient) -> str:
    host = {"x-openwork-host-token": ctx.credentials.host_token}
    r = await client.post("/workspaces/local", json={"folderPath": str(ctx.config.workspace)}, headers=host)
    assert r.status_code in (200, 201), r.text
    ws_id = r.json()["data"]["workspace"]["id"]
    r = await client.post(f"/workspaces/{ws_id}/file-sessions", json={"write": True, "ttlSeconds": 60})
    assert r.status_code == 201, r.text
    return f"/workspaces/{ws_id}/file-sessions/{r.json()['data']['session']['id']}"


@pytest.fixture
def full_workspace(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "ws-fs", size_kib=WORKSPACE_KIB) as mount:
        folder = mount / "workspace"
        folder.mkdir()
        (folder / "README.md").write_text("kept\n")
        (folder / "docs").mkdir()
        yield folder


@pytest.fixture
def full_data_dir(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "data-fs", size_kib=DATA_KIB) as mount:
        yield mount / "data"


async def test_a_write_to_a_full_disk_is_that_paths_insufficient_storage_with_nothing_left(
    isolated_env: Path, full_workspace: Path
) -> None:
    with _server(isolated_env, full_workspace, approval_mode="auto") as ctx:
        async with asgi_client(ctx, token=ctx.credentials.client_token) as client:
            base = await _session(ctx, client)
            filler = fill(full_workspace.parent)
            r = await client.post(
                f"{base}/write-batch",
                json={
                    "writes": [
                        {"path": "README.md", "contentBase64": _b64(b"x" * BIG)},
                        {"path": "docs/new.bin", "contentBase64": _b64(b"y" * BIG)},
                    ]
                },
            )
            assert r.status_code == 200, r.text
            replaced, created = r.json()["data"]["items"]
            for item, path in ((replaced, "README.md"), (created, "docs/new.bin")):
                assert item["ok"] is False and item["path"] == path
                assert item["error"]["code"] == "insufficient_storage", item
                assert path in item["error"]["message"]
            assert (full_workspace / "README.md").read_text() == "kept\n"  # no partial file
            assert not (full_workspace / "docs" / "new.bin").exists()
            assert _leftovers(full_workspace) == []  # no temp file
            assert ctx.files.temp_journal is not None and ctx.files.temp_journal.live == 0

            filler.unlink()  # the server kept serving: with room again, the same write goes through
            r = await client.post(
                f"{base}/write-batch", json={"writes": [{"path": "docs/new.bin", "contentBase64": _b64(b"y")}]}
            )
            assert r.json()["data"]["items"][0]["ok"] is True
            assert _leftovers(full_workspace) == []


def test_a_write_whose_temp_file_cannot_be_journaled_is_refused_before_it_creates_one(
    full_data_dir: Path, workspace: Path
) -> None:
    journal = TempJournal(full_data_dir / "run" / JOURNAL_NAME)
    journal.recover()
    fill(full_data_dir.parent)
    root_fd = os.open(workspace, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(InsufficientStorage, match=JOURNAL_NAME):
            ops.write_file(root_fd, ("a.txt",), b"a", if_match=None, force=False, journal=journal)
    finally:
        os.close(root_fd)
    assert not (workspace / "a.txt").exists() and _leftovers(workspace) == []
    assert journal.live == 0


async def test_a_full_data_dir_is_a_507_and_the_server_keeps_serving(full_data_dir: Path, workspace: Path) -> None:
    with _server(full_data_dir, workspace) as ctx:
        host = {"x-openwork-host-token": ctx.credentials.host_token}
        # As uvicorn does, the client gets the answer even when the app re-raises for the server's log.
        transport = httpx.ASGITransport(app=create_app(ctx), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8787") as client:
            filler = fill(full_data_dir.parent)
            minted = await client.post("/tokens", json={"scope": "viewer", "label": "x" * 200}, headers=host)
            assert minted.status_code == 507, minted.text
            assert minted.json()["error"]["code"] == "insufficient_storage"
            assert "no space left" in minted.json()["error"]["message"]

            listed = await client.get("/tokens", headers=host)  # reads still answer
            assert listed.status_code == 200
            filler.unlink()
            again = await client.post("/tokens", json={"scope": "viewer", "label": "after"}, headers=host)
            assert again.status_code == 201, again.text


def test_storage_full_finds_the_cause_behind_sqlites_rollback_error(full_data_dir: Path) -> None:
    """The shape the store produced: COMMIT fails with SQLITE_FULL, SQLite rolls back by itself, and the
    explicit ROLLBACK then raises "cannot rollback", hiding the cause. The mapping still finds it."""
    full_data_dir.mkdir()
    db = Database(full_data_dir / "openwork.db")
    try:
        fill(full_data_dir.parent)
        with pytest.raises(Exception) as caught, db.transaction() as conn:
            for i in range(64):
                conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (f"k{i}", "v" * 4096))
        mapped = storage_full(caught.value, str(db.path))
        assert isinstance(mapped, InsufficientStorage)
        assert mapped.status == 507 and mapped.code == "insufficient_storage" and str(db.path) in mapped.message
    finally:
        db.close()


def test_the_store_raises_insufficient_storage_naming_the_database(full_data_dir: Path) -> None:
    full_data_dir.mkdir()
    db = Database(full_data_dir / "openwork.db")
    try:
        fill(full_data_dir.parent)
        with pytest.raises(InsufficientStorage, match=str(db.path)), db.transaction() as conn:
            for i in range(64):
                conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (f"k{i}", "v" * 4096))
        assert (full_data_dir.parent / FILLER).exists()
    finally:
        db.close()


def test_a_start_on_a_full_data_dir_still_removes_the_listed_temp_files(full_data_dir: Path, workspace: Path) -> None:
    leftover = workspace / f"{TEMP_PREFIX}0123456789ab"
    leftover.write_bytes(b"half a file")
    journal = full_data_dir / "run" / JOURNAL_NAME
    journal.parent.mkdir(parents=True)
    journal.write_bytes(os.fsencode(leftover) + b"\0")
    fill(full_data_dir.parent)
    assert TempJournal(journal).recover() == [str(leftover)]  # emptied in place: no free block needed
    assert not leftover.exists() and journal.read_bytes() == b""
