"""File sessions in-process over a real folder: round trips, conflicts, catalog, hostile paths, approvals."""

from __future__ import annotations

import asyncio
import base64
import os
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from openwork.api import AppContext
from tests.apphelpers import asgi_client, clock_of, make_context

pytestmark = pytest.mark.anyio


@pytest.fixture
def ctx(isolated_env: Path, workspace: Path) -> AppContext:
    return make_context(isolated_env, workspace, approval_mode="auto")


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


class Files:
    """A file session driven over HTTP, as a remote client would."""

    def __init__(self, client: httpx.AsyncClient, ws: str, sid: str) -> None:
        self.client, self.ws, self.sid = client, ws, sid

    @property
    def base(self) -> str:
        return f"/workspaces/{self.ws}/file-sessions/{self.sid}"

    async def write(self, *items: dict[str, Any]) -> list[dict[str, Any]]:
        r = await self.client.post(f"{self.base}/write-batch", json={"writes": list(items)})
        assert r.status_code == 200, r.text
        return list(r.json()["data"]["items"])

    async def read(self, *paths: str) -> list[dict[str, Any]]:
        r = await self.client.post(f"{self.base}/read-batch", json={"paths": list(paths)})
        assert r.status_code == 200, r.text
        return list(r.json()["data"]["items"])

    async def catalog(self, **params: Any) -> dict[str, Any]:
        r = await self.client.get(f"{self.base}/catalog/snapshot", params=params)
        assert r.status_code == 200, r.text
        return dict(r.json()["data"])


async def open_session(ctx: AppContext, client: httpx.AsyncClient, *, write: bool = True) -> Files:
    host = {"x-openwork-host-token": ctx.credentials.host_token}
    ws = (await client.get("/workspaces", headers=host)).json()["data"]["items"]
    if not ws:
        r = await client.post("/workspaces/local", json={"folderPath": str(ctx.config.workspace)}, headers=host)
        ws_id = r.json()["data"]["workspace"]["id"]
    else:
        ws_id = ws[0]["id"]
    r = await client.post(f"/workspaces/{ws_id}/file-sessions", json={"write": write, "ttlSeconds": 60})
    assert r.status_code == 201, r.text
    return Files(client, ws_id, r.json()["data"]["session"]["id"])


async def test_write_read_round_trip_with_revisions(ctx: AppContext, workspace: Path) -> None:
    async with asgi_client(ctx, token=ctx.credentials.client_token) as client:
        files = await open_session(ctx, client)
        [written] = await files.write({"path": "docs/a.txt", "contentBase64": b64("hello")})
        assert written["ok"] and written["size"] == 5
        assert (workspace / "docs" / "a.txt").read_text() == "hello"
        [read] = await files.read("docs/a.txt")
        assert base64.b64decode(read["contentBase64"]) == b"hello" and read["revision"] == written["revision"]
        [stale, fresh] = await files.write(
            {"path": "docs/a.txt", "contentBase64": b64("x"), "ifMatchRevision": "0.0.0"},
            {"path": "docs/b.txt", "contentBase64": b64("b")},
        )
        assert stale["ok"] is False and stale["error"]["code"] == "conflict"
        assert fresh["ok"] and (workspace / "docs" / "a.txt").read_text() == "hello"
        [forced] = await files.write(
            {"path": "docs/a.txt", "contentBase64": b64("x"), "ifMatchRevision": "0.0.0", "force": True}
        )
        assert forced["ok"] and (workspace / "docs" / "a.txt").read_text() == "x"
        [missing, bad] = await files.read("nope.txt", "../etc/passwd")
        assert missing["error"]["code"] == "not_found" and bad["error"]["code"] == "invalid_request"
        assert not [p for p in (workspace / "docs").iterdir() if p.name.startswith(".owtmp")]


async def test_read_only_session_cannot_write_and_sessions_are_bound_to_the_token(ctx: AppContext) -> None:
    async with asgi_client(ctx, token=ctx.credentials.client_token) as client:
        files = await open_session(ctx, client, write=False)
        r = await client.post(f"{files.base}/write-batch", json={"writes": [{"path": "a", "contentBase64": ""}]})
        assert r.status_code == 403 and "read-only" in r.json()["error"]["message"]
        _, other = ctx.tokens.mint(scope="collaborator", label="other", ttl_seconds=None)
        r = await client.post(
            f"{files.base}/read-batch", json={"paths": ["a"]}, headers={"authorization": f"Bearer {other}"}
        )
        assert r.status_code == 404
        _, viewer = ctx.tokens.mint(scope="viewer", label="viewer", ttl_seconds=None)
        r = await client.post(
            f"/workspaces/{files.ws}/file-sessions", json={"write": True}, headers={"authorization": f"Bearer {viewer}"}
        )
        assert r.status_code == 403


async def test_expired_sessions_are_404(ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> None:
    async with asgi_client(ctx, token=ctx.credentials.client_token) as client:
        files = await open_session(ctx, client)
        clock_of(ctx).advance(61)
        r = await client.post(f"{files.base}/read-batch", json={"paths": ["a"]})
        assert r.status_code == 404 and "expired" in r.json()["error"]["message"]
        renewed = await client.post(f"{files.base}/renew", json={"ttlSeconds": 10})
        assert renewed.status_code == 404


async def test_catalog_pages_excludes_and_events(ctx: AppContext, workspace: Path) -> None:
    for rel in ["a.txt", "b/c.txt", "b/d.txt", "a-z.txt", ".git/config", "node_modules/x/y.js", "b/e/f.txt"]:
        (workspace / rel).parent.mkdir(parents=True, exist_ok=True)
        (workspace / rel).write_text(rel)
    async with asgi_client(ctx, token=ctx.credentials.client_token) as client:
        files = await open_session(ctx, client)
        everything = await files.catalog(limit=100)
        paths = [i["path"] for i in everything["items"]]
        assert paths == ["README.md", "a-z.txt", "a.txt", "b/c.txt", "b/d.txt", "b/e/f.txt"]
        assert everything["truncated"] is False and everything["nextAfter"] is None
        pages, after = [], None
        while True:
            page = await files.catalog(limit=2, **({"after": after} if after else {}))
            pages += [i["path"] for i in page["items"]]
            if not page["truncated"]:
                break
            after = page["nextAfter"]
        assert pages == paths
        under_b = await files.catalog(prefix="b", includeDirs=True)
        assert [i["path"] for i in under_b["items"]] == ["b/c.txt", "b/d.txt", "b/e", "b/e/f.txt"]
        cursor = everything["cursor"]
        await files.write({"path": "new.txt", "contentBase64": b64("n")})
        r = await client.get(f"{files.base}/catalog/events", params={"since": cursor})
        changes = r.json()["data"]
        assert "new.txt" in [c["path"] for c in changes["items"]]
        again = await client.get(f"{files.base}/catalog/events", params={"since": changes["cursor"]})
        assert again.json()["data"]["items"] == []


async def test_operations(ctx: AppContext, workspace: Path) -> None:
    async with asgi_client(ctx, token=ctx.credentials.client_token) as client:
        files = await open_session(ctx, client)
        await files.write({"path": "src/a.txt", "contentBase64": b64("a")})
        r = await client.post(
            f"{files.base}/operations",
            json={
                "operations": [
                    {"type": "mkdir", "path": "out/deep"},
                    {"type": "rename", "path": "src/a.txt", "to": "out/deep/a.txt"},
                    {"type": "delete", "path": "src"},
                    {"type": "rename", "path": "missing", "to": "x"},
                    {"type": "delete", "path": "../outside"},
                ]
            },
        )
        results = r.json()["data"]["items"]
        assert [x["ok"] for x in results] == [True, True, True, False, False]
        assert (workspace / "out/deep/a.txt").read_text() == "a" and not (workspace / "src").exists()
        r = await client.post(
            f"{files.base}/operations", json={"operations": [{"type": "delete", "path": "out", "recursive": True}]}
        )
        assert r.json()["data"]["items"][0]["ok"] and not (workspace / "out").exists()


HOSTILE = [
    "/etc/passwd",
    "../x",
    "a/../../x",
    "a\\..\\x",
    "a\x00b",
    "a\nb",
    "x" * 2000,
    ("y" * 300) + "/z",
    "",
    ".",
    "./",
]


async def test_hostile_paths_are_refused_per_path(ctx: AppContext, workspace: Path, tmp_path: Path) -> None:
    async with asgi_client(ctx, token=ctx.credentials.client_token) as client:
        files = await open_session(ctx, client)
        results = await files.write(*({"path": p, "contentBase64": b64("x")} for p in HOSTILE))
        assert all(r["ok"] is False and r["error"]["code"] == "invalid_request" for r in results), results
        reads = await files.read(*HOSTILE)
        assert all(r["ok"] is False for r in reads)
    assert sorted(p.name for p in workspace.iterdir()) == ["README.md"]


async def test_symlinks_out_of_the_root_are_never_followed(ctx: AppContext, workspace: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (workspace / "escape").symlink_to(outside)
    (workspace / "file-link").symlink_to(outside / "secret.txt")
    async with asgi_client(ctx, token=ctx.credentials.client_token) as client:
        files = await open_session(ctx, client)
        reads = await files.read("escape/secret.txt", "file-link")
        assert [r["error"]["code"] for r in reads] == ["forbidden", "forbidden"]
        writes = await files.write(
            {"path": "escape/new.txt", "contentBase64": b64("x")}, {"path": "file-link", "contentBase64": b64("x")}
        )
        assert [w["ok"] for w in writes] == [False, False]
        listing = await files.catalog(includeDirs=True)
        assert {i["path"]: i["kind"] for i in listing["items"]}["escape"] == "symlink"
        assert "escape/secret.txt" not in [i["path"] for i in listing["items"]]
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "secret"


async def test_a_symlink_swapped_in_during_writes_never_escapes(
    ctx: AppContext, workspace: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    stop = threading.Event()

    def swapper() -> None:
        target = workspace / "box"
        while not stop.is_set():
            try:
                if target.is_symlink():
                    target.unlink()
                    target.mkdir()
                else:
                    for child in target.iterdir():
                        child.unlink()
                    target.rmdir()
                    target.symlink_to(outside)
            except OSError:
                pass

    (workspace / "box").mkdir()
    thread = threading.Thread(target=swapper, daemon=True)
    thread.start()
    try:
        async with asgi_client(ctx, token=ctx.credentials.client_token) as client:
            files = await open_session(ctx, client)
            for i in range(40):
                await files.write({"path": f"box/f{i}.txt", "contentBase64": b64("x")})
    finally:
        stop.set()
        thread.join(5)
    assert list(outside.iterdir()) == []


async def test_concurrent_writers_with_the_same_revision_one_wins(ctx: AppContext, workspace: Path) -> None:
    async with asgi_client(ctx, token=ctx.credentials.client_token) as client:
        files = await open_session(ctx, client)
        [base] = await files.write({"path": "shared.txt", "contentBase64": b64("v0")})
        results = await asyncio.gather(
            *(
                files.write({"path": "shared.txt", "contentBase64": b64(f"v{i}"), "ifMatchRevision": base["revision"]})
                for i in range(1, 9)
            )
        )
    outcomes = [r[0]["ok"] for r in results]
    assert outcomes.count(True) == 1
    assert all(r[0]["error"]["code"] == "conflict" for r in results if not r[0]["ok"])
    winner = next(i for i, ok in enumerate(outcomes, start=1) if ok)
    assert (workspace / "shared.txt").read_text() == f"v{winner}"


# -- approvals -------------------------------------------------------------------------------------


@pytest.fixture
def manual(isolated_env: Path, workspace: Path) -> AppContext:
    return make_context(isolated_env, workspace, approval_mode="manual", approval_timeout_ms=5000)


async def _pending(client: httpx.AsyncClient, host: dict[str, str]) -> list[dict[str, Any]]:
    for _ in range(200):
        items = (await client.get("/approvals", headers=host)).json()["data"]["items"]
        if items:
            return list(items)
        await asyncio.sleep(0.01)
    raise AssertionError("no pending approval appeared")


@pytest.mark.parametrize("reply", ["allow", "deny"])
async def test_manual_approval_allow_and_deny(manual: AppContext, workspace: Path, reply: str) -> None:
    host = {"x-openwork-host-token": manual.credentials.host_token}
    async with asgi_client(manual, token=manual.credentials.client_token) as client:
        files = await open_session(manual, client)
        writes = [{"path": f"batch/f{i:02d}.txt", "contentBase64": b64("x" * i)} for i in range(50)]
        request = asyncio.create_task(client.post(f"{files.base}/write-batch", json={"writes": writes}))
        [pending] = await _pending(client, host)
        assert pending["count"] == 50 and [p["path"] for p in pending["paths"]] == [w["path"] for w in writes]
        assert pending["who"] == "client" and pending["workspaceId"] == files.ws
        assert not (workspace / "batch").exists()  # nothing before the decision
        # A client token cannot decide.
        assert (await client.post(f"/approvals/{pending['id']}", json={"reply": "allow"})).status_code == 403
        decided = await client.post(f"/approvals/{pending['id']}", json={"reply": reply}, headers=host)
        assert decided.status_code == 200
        r = await request
    if reply == "allow":
        assert r.status_code == 200 and len(list((workspace / "batch").iterdir())) == 50
    else:
        assert r.status_code == 403 and r.json()["error"]["code"] == "write_denied"
        assert not (workspace / "batch").exists()
    history = manual.approvals.history()
    assert history[0]["decision"] == ("allowed" if reply == "allow" else "denied") and history[0]["decidedBy"] == "host"


async def test_manual_approval_times_out_as_deny(isolated_env: Path, workspace: Path) -> None:
    ctx = make_context(isolated_env, workspace, approval_mode="manual", approval_timeout_ms=200)
    async with asgi_client(ctx, token=ctx.credentials.client_token) as client:
        files = await open_session(ctx, client)
        r = await client.post(
            f"{files.base}/write-batch", json={"writes": [{"path": "t.txt", "contentBase64": b64("x")}]}
        )
    assert r.status_code == 403 and "no decision within 200 ms" in r.json()["error"]["message"]
    assert not (workspace / "t.txt").exists()
    assert ctx.approvals.history()[0]["decision"] == "timeout"


async def test_big_write_batches_pass_the_body_cap(ctx: AppContext, workspace: Path) -> None:
    blob = os.urandom(3 * 1024 * 1024)  # over the 1 MiB default cap once base64-encoded
    async with asgi_client(ctx, token=ctx.credentials.client_token) as client:
        files = await open_session(ctx, client)
        [w] = await files.write({"path": "big.bin", "contentBase64": b64(blob)})
    assert w["ok"] and (workspace / "big.bin").read_bytes() == blob
