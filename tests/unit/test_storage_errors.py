"""A full disk maps to ``InsufficientStorage`` (507) wherever it surfaces (issue 16, finding 8)."""

from __future__ import annotations

import errno
import sqlite3

import httpx
import pytest
from fastapi import FastAPI

from openwork.api.envelope import install_error_handlers
from openwork.errors import InsufficientStorage, StoreError, storage_full

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_full_device_or_quota_is_insufficient_storage_naming_the_path(code: int) -> None:
    mapped = storage_full(OSError(code, "full"), "docs/a.txt")
    assert isinstance(mapped, InsufficientStorage) and isinstance(mapped, StoreError)
    assert (mapped.status, mapped.code) == (507, "insufficient_storage") and "docs/a.txt" in mapped.message


def test_other_errors_are_not_storage_errors() -> None:
    assert storage_full(OSError(errno.EIO, "io"), "x") is None
    assert storage_full(OSError(errno.EFBIG, "too big"), "x") is None  # RLIMIT_FSIZE is not a full disk
    assert storage_full(ValueError("x"), "x") is None
    assert storage_full(None, "x") is None


def test_the_cause_is_found_behind_a_later_error() -> None:
    def rollback_after_full() -> None:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise RuntimeError("cannot rollback - no transaction is active")  # noqa: B904 - the shape we meet

    with pytest.raises(RuntimeError) as caught:
        rollback_after_full()
    assert isinstance(storage_full(caught.value, "the store"), InsufficientStorage)


def test_sqlite_full_is_recognised_by_its_result_code() -> None:
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = sqlite3.SQLITE_FULL  # type: ignore[attr-defined]
    other = sqlite3.OperationalError("database is locked")
    other.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
    assert isinstance(storage_full(full, "db"), InsufficientStorage)
    assert storage_full(other, "db") is None


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/full")
    async def full() -> None:
        raise OSError(errno.ENOSPC, "No space left on device", "/data/run/server.json")

    @app.get("/broken")
    async def broken() -> None:
        raise OSError(errno.EIO, "Input/output error", "/data/secret-path")

    @app.get("/ours")
    async def ours() -> None:
        raise InsufficientStorage("no space left on the device holding docs/a.txt")

    return app


async def test_the_http_edge_answers_507_for_a_full_disk_and_500_for_anything_else() -> None:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        full = await client.get("/full")
        assert full.status_code == 507 and full.json()["error"]["code"] == "insufficient_storage"
        assert "/data/run/server.json" in full.json()["error"]["message"]
        ours = await client.get("/ours")
        assert ours.status_code == 507 and "docs/a.txt" in ours.json()["error"]["message"]
        broken = await client.get("/broken")
        assert broken.status_code == 500 and broken.json()["error"]["code"] == "internal_error"
        assert "secret-path" not in broken.text
