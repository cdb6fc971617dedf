"""``/workspaces`` in-process: auth, bad input as clear 4xx, concurrency (opencode is not running here)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from openwork.api import AppContext
from tests.apphelpers import asgi_client

pytestmark = pytest.mark.anyio


def host(ctx: AppContext) -> dict[str, str]:
    return {"x-openwork-host-token": ctx.credentials.host_token}


async def test_register_list_rename_remove(ctx: AppContext, tmp_path: Path) -> None:
    (tmp_path / "proj").mkdir()
    async with asgi_client(ctx) as client:
        r = await client.post("/workspaces/local", json={"folderPath": str(tmp_path / "proj")}, headers=host(ctx))
        assert r.status_code == 201, r.text
        ws = r.json()["data"]["workspace"]
        assert r.json()["data"]["created"] is True and ws["name"] == "proj"
        again = await client.post("/workspaces/local", json={"folderPath": str(tmp_path / "proj")}, headers=host(ctx))
        assert again.json()["data"] == {"workspace": ws, "created": False}
        bearer = {"authorization": f"Bearer {ctx.credentials.client_token}"}
        listing = (await client.get("/workspaces", headers=bearer)).json()["data"]
        assert [w["id"] for w in listing["items"]] == [ws["id"]]
        renamed = await client.patch(f"/workspaces/{ws['id']}", json={"displayName": "Project"}, headers=host(ctx))
        assert renamed.json()["data"]["workspace"]["name"] == "Project"
        legacy_path = await client.get(f"/workspaces/{ws['id']}/path", headers=bearer)
        assert legacy_path.json()["data"]["path"] == str((tmp_path / "proj").resolve())
        removed = await client.delete(f"/workspaces/{ws['id']}", headers=host(ctx))
        assert removed.status_code == 200 and (tmp_path / "proj").is_dir()
        gone = await client.get(f"/workspaces/{ws['id']}", headers=bearer)
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"


async def test_client_token_cannot_register_and_anonymous_cannot_list(ctx: AppContext, tmp_path: Path) -> None:
    async with asgi_client(ctx, token=ctx.credentials.client_token) as client:
        r = await client.post("/workspaces/local", json={"folderPath": str(tmp_path)})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    async with asgi_client(ctx) as anonymous:
        assert (await anonymous.get("/workspaces")).status_code == 401
        assert (await anonymous.get("/workspaces/ws_0123456789ab/opencode/session")).status_code == 401


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"folderPath": "/definitely/not/here"}, 400, "does not exist"),
        ({"folderPath": "FILE"}, 400, "is not a folder"),
        ({"folderPath": "/tmp/../tmp"}, 400, "'..'"),
        ({"folderPath": "relative"}, 400, "absolute"),
        ({"folderPath": "/" + "a" * 5000}, 422, ""),
        ({"folderPath": "/tmp", "extra": 1}, 422, ""),
        ({}, 422, ""),
    ],
)
async def test_bad_folders_are_clear_4xx(
    ctx: AppContext, tmp_path: Path, body: dict[str, object], status: int, message: str
) -> None:
    (tmp_path / "file.txt").write_text("x")
    if body.get("folderPath") == "FILE":
        body = {"folderPath": str(tmp_path / "file.txt")}
    async with asgi_client(ctx) as client:
        r = await client.post("/workspaces/local", json=body, headers=host(ctx))
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_request" and message in error["message"]
    assert "Traceback" not in r.text


@pytest.mark.parametrize("bad_id", ["x" * 1000, "🙂" * 10, "ws_zzzzzzzzzzzz", "nope", "ws_0123456789ab"])
async def test_unknown_ids_are_404_everywhere(ctx: AppContext, bad_id: str) -> None:
    async with asgi_client(ctx) as client:
        for method, path in [
            ("GET", f"/workspaces/{bad_id}"),
            ("GET", f"/workspaces/{bad_id}/path"),
            ("POST", f"/workspaces/{bad_id}/activate"),
            ("POST", f"/workspaces/{bad_id}/dispose"),
            ("POST", f"/instances/{bad_id}/dispose"),
            ("DELETE", f"/workspaces/{bad_id}"),
            ("GET", f"/workspaces/{bad_id}/opencode/session"),
            ("GET", f"/workspaces/{bad_id}/events"),
        ]:
            r = await client.request(method, path, headers=host(ctx))
            assert r.status_code in (404, 422), (method, path, r.status_code)
            assert r.json()["ok"] is False


async def test_activate_while_opencode_is_down_is_a_clear_502(ctx: AppContext, tmp_path: Path) -> None:
    async with asgi_client(ctx) as client:
        ws = (await client.post("/workspaces/local", json={"folderPath": str(tmp_path)}, headers=host(ctx))).json()
        r = await client.post(f"/workspaces/{ws['data']['workspace']['id']}/activate", headers=host(ctx))
    assert r.status_code == 502 and "opencode is not running" in r.json()["error"]["message"]


async def test_fifty_concurrent_adds_register_each_folder_once(ctx: AppContext, tmp_path: Path) -> None:
    folders = [tmp_path / f"f{i}" for i in range(25)]
    for f in folders:
        f.mkdir()
    targets = [str(f) for f in folders] * 2  # 50 calls, every folder twice
    async with asgi_client(ctx) as client:
        results = await asyncio.gather(
            *(client.post("/workspaces/local", json={"folderPath": t}, headers=host(ctx)) for t in targets)
        )
        assert all(r.status_code == 201 for r in results)
        created = sum(r.json()["data"]["created"] for r in results)
        listing = (await client.get("/workspaces", headers=host(ctx))).json()["data"]["items"]
    assert created == 25
    assert sorted(w["path"] for w in listing) == sorted(str(f.resolve()) for f in folders)


async def test_shutdown_is_host_only(ctx: AppContext) -> None:
    calls: list[int] = []
    ctx.request_shutdown = lambda: calls.append(1)
    async with asgi_client(ctx, token=ctx.credentials.client_token) as client:
        assert (await client.post("/shutdown")).status_code == 403
    async with asgi_client(ctx) as client:
        assert (await client.post("/shutdown", headers=host(ctx))).json()["data"] == {"stopping": True}
    assert calls == [1]


async def test_workspace_changes_are_published_with_the_wire_record(ctx: AppContext, tmp_path: Path) -> None:
    (tmp_path / "evt").mkdir()
    sub = ctx.bus.subscribe()
    async with asgi_client(ctx) as client:
        added = await client.post("/workspaces/local", json={"folderPath": str(tmp_path / "evt")}, headers=host(ctx))
        ws = added.json()["data"]["workspace"]
        renamed = await client.patch(f"/workspaces/{ws['id']}", json={"displayName": "Evt"}, headers=host(ctx))
        await client.delete(f"/workspaces/{ws['id']}", headers=host(ctx))
    seen = []
    for _ in range(3):
        event = await sub.get(timeout=1.0)
        assert event is not None
        seen.append((event.type, event.data))
    sub.close()
    assert seen == [
        ("workspace.added", {"workspace": ws}),
        ("workspace.updated", {"workspace": renamed.json()["data"]["workspace"]}),
        ("workspace.removed", {"id": ws["id"]}),
    ]


@pytest.mark.anyio
async def test_concurrent_removes_and_activations_leave_no_dangling_active_id(ctx: AppContext) -> None:
    """Changes run in worker threads; they must still not interleave (a remove between activate's
    existence check and its write would leave the active id naming a deleted workspace)."""
    import asyncio
    import contextlib

    records = []
    for i in range(8):
        folder = ctx.config.workspace / f"w{i}"
        folder.mkdir()
        records.append((await ctx.workspaces.add(str(folder), None))[0])
    sub = ctx.bus.subscribe()

    async def attempt(change: Any) -> None:
        with contextlib.suppress(Exception):  # the loser of a race gets a 404 (or opencode is not running)
            await change

    await asyncio.gather(
        *(attempt(ctx.workspaces.remove(r.id)) for r in records),
        *(attempt(ctx.workspaces.activate(r.id)) for r in records),
        *(attempt(ctx.workspaces.remove(r.id)) for r in records),
    )
    active = ctx.registry.active_id()
    assert active is None or active in {w.id for w in ctx.registry.list()}
    events = []
    while (event := await sub.get(timeout=1)) is not None and len(events) < 100:
        events.append(event)
        if sub._queue.empty():
            break
    removed = [e for e in events if e.type == "workspace.removed"]
    assert len(removed) == len(records)  # each workspace removed once, whatever the interleaving
