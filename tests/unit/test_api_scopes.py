"""Who may do what on our own routes (shared/DESIGN.md 2c), caller by caller, in-process.

opencode is not running here, so a route that reaches it answers 502; what is asserted is the auth
outcome: 403 (scope), 404 (a workspace the token may not see) or "let through" (anything else).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from openwork.api import AppContext, create_app
from openwork.supervisor.state import ExitInfo
from tests.apphelpers import asgi_client

pytestmark = pytest.mark.anyio

CALLERS = ("client", "owner", "collaborator", "viewer", "own_viewer", "other_owner", "host")  # host last: it mutates
OK, FORBIDDEN, HIDDEN = "ok", 403, 404

HOST_ONLY = {c: FORBIDDEN for c in CALLERS} | {"host": OK}
READ = {c: OK for c in CALLERS} | {"other_owner": HIDDEN}
ACT = READ | {"viewer": FORBIDDEN, "own_viewer": FORBIDDEN}
ADMIN = ACT | {"collaborator": FORBIDDEN}
ANY = {c: OK for c in CALLERS}


@dataclass(frozen=True)
class World:
    ctx: AppContext
    a: str  # the workspace the routes are called on
    b: str  # the other one
    headers: dict[str, dict[str, str]]


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.fixture
def world(ctx: AppContext, tmp_path: Path) -> World:
    (tmp_path / "b").mkdir()
    a, _ = ctx.registry.add(ctx.config.workspace.resolve())
    b, _ = ctx.registry.add((tmp_path / "b").resolve())
    minted = {
        "owner": ctx.tokens.mint(scope="owner", label="", ttl_seconds=None),
        "collaborator": ctx.tokens.mint(scope="collaborator", label="", ttl_seconds=None),
        "viewer": ctx.tokens.mint(scope="viewer", label="", ttl_seconds=None),
        "own_viewer": ctx.tokens.mint(scope="viewer", label="", ttl_seconds=None, workspace_ids=[a.id]),
        "other_owner": ctx.tokens.mint(scope="owner", label="", ttl_seconds=None, workspace_ids=[b.id]),
    }
    headers = {name: _bearer(plaintext) for name, (_, plaintext) in minted.items()}
    headers["client"] = _bearer(ctx.credentials.client_token)
    headers["host"] = {"x-openwork-host-token": ctx.credentials.host_token}
    return World(ctx=ctx, a=a.id, b=b.id, headers=headers)


# (method, path with {a}, json body or None, expected outcome per caller)
Route = tuple[str, str, Any, dict[str, object]]
ROUTES: list[Route] = [
    ("GET", "/workspaces", None, ANY),
    ("GET", "/workspaces/{a}", None, READ),
    ("GET", "/workspaces/{a}/path", None, READ),
    ("POST", "/workspaces/{a}/activate", None, ADMIN),
    ("POST", "/workspaces/{a}/dispose", None, ADMIN),
    ("POST", "/instances/{a}/dispose", None, ADMIN),
    ("POST", "/workspaces/{a}/file-sessions", {"write": False}, READ),
    ("POST", "/workspaces/{a}/file-sessions", {"write": True}, ACT),
    ("POST", "/workspace/{a}/files/sessions", {"write": False}, READ),
    # The original server's path: a writable session as far as the token may (a viewer's is read-only).
    ("POST", "/workspace/{a}/files/sessions", {"write": True}, READ),
    ("POST", "/workspaces/{a}/file-sessions", {"write": True}, ACT),
    ("GET", "/system/status", None, ANY),
    ("GET", "/system/opencode/health", None, ANY),
    ("GET", "/system/router/health", None, ANY),
    ("GET", "/system/runtime/summary", None, ANY),
    ("GET", "/system/runtime/versions", None, ANY),
    ("GET", "/runtime/versions", None, ANY),
    ("GET", "/system/capabilities", None, ANY),
    ("GET", "/system/logs", None, HOST_ONLY),
    ("GET", "/system/env", None, HOST_ONLY),
    ("PUT", "/system/env", {"variables": {"MY_KEY": "v"}}, HOST_ONLY),
    ("POST", "/system/services/no-such-service/restart", None, HOST_ONLY),
    ("GET", "/tokens", None, HOST_ONLY),
    ("POST", "/tokens", {"scope": "viewer"}, HOST_ONLY),
    ("DELETE", "/tokens/tok_missing", None, HOST_ONLY),
    ("GET", "/approvals", None, HOST_ONLY),
    ("POST", "/approvals/ap_missing", {"reply": "deny"}, HOST_ONLY),
    ("POST", "/workspaces/local", {"folderPath": "{tmp}"}, HOST_ONLY),
    ("POST", "/workspaces", {"path": "{tmp}"}, HOST_ONLY),
    ("PATCH", "/workspaces/{a}", {"displayName": "renamed"}, HOST_ONLY),
    ("POST", "/shutdown", None, HOST_ONLY),
    ("DELETE", "/workspaces/{a}", None, HOST_ONLY),
    # Never called as the host here (it would start a download): the others are refused before any work.
    ("POST", "/system/runtime/upgrade", {"opencodeVersion": "0.0.0"}, HOST_ONLY | {"host": None}),
    ("POST", "/runtime/upgrade", {"opencodeVersion": "0.0.0"}, HOST_ONLY | {"host": None}),
]


def _fill(value: Any, world: World, tmp: Path) -> Any:
    if isinstance(value, str):
        return value.replace("{a}", world.a).replace("{tmp}", str(tmp))
    if isinstance(value, dict):
        return {k: _fill(v, world, tmp) for k, v in value.items()}
    return value


def _outcome(status: int, expected: object) -> object:
    if status in (401, 403, 404) or expected != OK:
        return status
    return OK  # let through: the route answered for itself (200, 201, 404 of a missing token id, 502, ...)


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"), ROUTES, ids=[f"{m} {p} {b or ''}" for m, p, b, _ in ROUTES]
)
async def test_route_rules(
    world: World, tmp_path: Path, method: str, path: str, body: Any, expected: dict[str, object]
) -> None:
    (tmp_path / "new").mkdir()
    seen = {}
    async with asgi_client(world.ctx) as client:
        for name in CALLERS:
            if expected[name] is None:
                continue
            r = await client.request(
                method,
                _fill(path, world, tmp_path),
                json=_fill(body, world, tmp_path / "new"),
                headers=world.headers[name],
            )
            outcome = _outcome(r.status_code, expected[name])
            # The host-only routes may answer 404 for the dummy ids they are given; that is not a refusal.
            if name == "host" and expected is HOST_ONLY and r.status_code == 404:
                outcome = OK
            seen[name] = outcome
            if r.status_code == 403:
                assert r.json()["error"]["code"] == "forbidden"
    assert seen == {k: v for k, v in expected.items() if v is not None}


async def test_a_hidden_workspace_is_exactly_an_unknown_one(world: World) -> None:
    async with asgi_client(world.ctx) as client:
        for path in ("/workspaces/{id}", "/workspaces/{id}/path", "/workspaces/{id}/activate"):
            method = "POST" if path.endswith("activate") else "GET"
            hidden = await client.request(method, path.format(id=world.a), headers=world.headers["other_owner"])
            unknown = await client.request(method, path.format(id="ws_000000000000"), headers=world.headers["client"])
            assert hidden.status_code == unknown.status_code == 404
            strip = lambda r: {k: v for k, v in r.json()["error"].items() if k != "requestId"}  # noqa: E731
            assert strip(hidden) == strip(unknown)


async def test_listing_shows_only_what_the_token_sees(world: World) -> None:
    world.ctx.registry.activate(world.a)
    async with asgi_client(world.ctx) as client:
        limited = (await client.get("/workspaces", headers=world.headers["other_owner"])).json()["data"]
        assert [w["id"] for w in limited["items"]] == [world.b] == [w["id"] for w in limited["workspaces"]]
        assert limited["activeId"] is None  # the active workspace is not one of its own
        full = (await client.get("/workspaces", headers=world.headers["viewer"])).json()["data"]
        assert {w["id"] for w in full["items"]} == {world.a, world.b} and full["activeId"] == world.a
        world.ctx.registry.activate(world.b)
        limited = (await client.get("/workspaces", headers=world.headers["other_owner"])).json()["data"]
        assert limited["activeId"] == world.b
        # Its own workspace is fully usable at its scope (owner: activate).
        r = await client.post(f"/workspaces/{world.b}/activate", headers=world.headers["other_owner"])
        assert r.status_code not in (401, 403, 404)


async def test_status_hides_the_start_folder_from_a_limited_token(world: World) -> None:
    async with asgi_client(world.ctx) as client:
        limited = (await client.get("/system/status", headers=world.headers["own_viewer"])).json()["data"]
        full = (await client.get("/system/status", headers=world.headers["viewer"])).json()["data"]
    assert limited["server"]["workspace"] is None
    assert full["server"]["workspace"] == str(world.ctx.config.workspace)


async def test_a_refusal_names_the_scope_it_needs(world: World) -> None:
    async with asgi_client(world.ctx) as client:
        r = await client.post(f"/workspaces/{world.a}/dispose", headers=world.headers["collaborator"])
        assert r.status_code == 403 and "owner" in r.json()["error"]["message"]
        r = await client.post(
            f"/workspaces/{world.a}/file-sessions", json={"write": True}, headers=world.headers["viewer"]
        )
        assert r.status_code == 403 and "collaborator" in r.json()["error"]["message"]


async def _stream(ctx: AppContext, path: str, headers: dict[str, str], done: Callable[[dict[str, Any]], bool]) -> None:
    """GET ``path`` (a possibly endless streaming answer) as a client that leaves once ``done`` says so
    about a message the app sent."""
    app = create_app(ctx)
    finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    disconnect = asyncio.Event()
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if done(message) and not finished.done():
            finished.set_result(None)

    raw = [(b"host", b"127.0.0.1:8787"), *((k.encode(), v.encode()) for k, v in headers.items())]
    scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "query_string": b""}
    scope |= {"headers": raw, "http_version": "1.1", "scheme": "http", "asgi": {"version": "3.0"}}
    task = asyncio.create_task(app(scope, receive, send))  # type: ignore[arg-type]
    try:
        async with asyncio.timeout(10):
            await finished
    finally:
        disconnect.set()
        async with asyncio.timeout(10):
            await asyncio.gather(task, return_exceptions=True)


async def _first_status(ctx: AppContext, path: str, headers: dict[str, str]) -> int:
    """The status of a (possibly endless) streaming answer, then the request is dropped."""
    statuses: list[int] = []

    def started(message: dict[str, Any]) -> bool:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])
        return bool(statuses)

    await _stream(ctx, path, headers, started)
    return statuses[0]


async def test_the_server_wide_event_stream_is_not_for_limited_tokens(world: World) -> None:
    for name in CALLERS:
        status = await _first_status(world.ctx, "/system/events", world.headers[name])
        assert status == (403 if name in ("own_viewer", "other_owner") else 200), name


async def test_file_sessions_of_a_limited_token_follow_its_workspaces(world: World) -> None:
    headers = world.headers["own_viewer"]
    async with asgi_client(world.ctx) as client:
        r = await client.post(f"/workspaces/{world.a}/file-sessions", json={"write": False}, headers=headers)
        assert r.status_code == 201, r.text
        sid = r.json()["data"]["session"]["id"]
        base = f"/workspaces/{world.a}/file-sessions/{sid}"
        assert (
            await client.post(f"{base}/read-batch", json={"paths": ["README.md"]}, headers=headers)
        ).status_code == 200
        # The session under another workspace's path is not there.
        r = await client.post(
            f"/workspaces/{world.b}/file-sessions/{sid}/read-batch", json={"paths": ["README.md"]}, headers=headers
        )
        assert r.status_code == 404
        # Once its workspace is removed, the token sees nothing: its open session goes with it.
        world.ctx.registry.remove(world.a)
        r = await client.post(f"/files/sessions/{sid}/read-batch", json={"paths": ["README.md"]}, headers=headers)
        assert r.status_code == 404
        assert (await client.get("/workspaces", headers=headers)).json()["data"]["items"] == []


async def _event_frames(ctx: AppContext, headers: dict[str, str], publish: Callable[[], None]) -> list[dict[str, Any]]:
    """The JSON frames of ``/system/events`` up to the first one after ``publish`` ran (once the snapshot
    came), then the client leaves."""
    body = bytearray()
    published: list[bool] = []

    def two_frames(message: dict[str, Any]) -> bool:
        if message["type"] == "http.response.body":
            body.extend(message.get("body", b""))
        if body.count(b"data: ") == 1 and not published:
            published.append(True)
            publish()
        return body.count(b"data: ") >= 2

    await _stream(ctx, "/system/events", headers, two_frames)
    return [json.loads(line[6:]) for line in body.decode().splitlines() if line.startswith("data: ")]


async def test_the_event_stream_gives_exit_lines_to_the_host_only(world: World) -> None:
    # As the stack publishes it: a service's status, its last exit in the wire form.
    exit_info = ExitInfo(code=1, reason="exited", at=1.0, last_lines=("secret-ish output of opencode",)).model().wire()
    for name in ("viewer", "host"):
        frames = await _event_frames(
            world.ctx,
            world.headers[name],
            lambda: world.ctx.bus.publish("service.state", {"name": "opencode", "lastExit": exit_info}),
        )
        assert "services" in frames[0]  # the snapshot first
        lines = frames[1]["data"]["lastExit"]["lastLines"]
        assert lines == ([] if name == "viewer" else ["secret-ish output of opencode"]), name
