"""Request bodies (issue 16, finding 3): no byte of a body is read before its caller authenticated, the cap
is the matched route's, GET bodies are capped too, and large bodies in memory are bounded."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.types import Receive, Scope, Send

from openwork.api import AppContext, create_app
from openwork.api import bodies as bodies_module
from openwork.api.app import body_routes
from openwork.api.bodies import LARGE_BODY_THRESHOLD, BodyLimits, BodyRoute, LargeBodyGate
from openwork.api.files import WRITE_BODY_LIMIT
from openwork.api.guard import PUBLIC_PATHS, GuardMiddleware
from openwork.auth.principal import Principal, Role
from openwork.constants import DEFAULT_PROXY_MAX_BODY
from openwork.errors import AuthError
from tests.apphelpers import asgi_client
from tests.helpers import ServerProcess

MiB = 1024 * 1024
CHUNK = 64 * 1024  # what uvicorn hands the app at most per message, roughly
WAIT = 10.0  # seconds any one in-process request may take before the test fails


@dataclass
class Exchange:
    """One raw ASGI request: what the app asked of the client, and what it answered."""

    status: int = 0
    body: bytes = b""
    receives: int = 0
    delivered: int = 0  # body bytes handed to the app
    answered: asyncio.Event = field(default_factory=asyncio.Event)

    def json(self) -> Any:
        return json.loads(self.body)


def _scope(method: str, path: str, headers: dict[str, str]) -> Scope:
    raw = [(b"host", b"127.0.0.1:8787"), *((k.lower().encode(), v.encode()) for k, v in headers.items())]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": raw,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8787),
    }


async def exchange(
    app: Any, method: str, path: str, headers: dict[str, str], *, size: int = 0, stall: asyncio.Event | None = None
) -> Exchange:
    """Send ``size`` body bytes in CHUNK messages, made only when asked for; with ``stall``, the client
    stops after the first chunk over LARGE_BODY_THRESHOLD until the event is set."""
    out = Exchange()
    left = size

    async def receive() -> dict[str, Any]:
        nonlocal left
        out.receives += 1
        if out.delivered > LARGE_BODY_THRESHOLD and stall is not None:
            await stall.wait()
        if left or out.receives == 1:
            chunk = b"x" * min(CHUNK, left)
            left -= len(chunk)
            out.delivered += len(chunk)
            return {"type": "http.request", "body": chunk, "more_body": left > 0}
        await out.answered.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            out.status = message["status"]
        elif message["type"] == "http.response.body":
            out.body += message.get("body", b"")
            if not message.get("more_body", False):
                out.answered.set()

    async with asyncio.timeout(WAIT):
        await app(_scope(method, path, headers), receive, send)
    return out


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


# -- authentication comes before the body ------------------------------------------------------------

UNAUTHENTICATED = [{}, _bearer("wrong-token-value"), {"x-openwork-host-token": "nope"}, {"authorization": "Basic eA=="}]
BODY_PATHS = [
    ("POST", "/nonexistent/write-batch"),
    ("POST", "/files/sessions/fs_nope/write-batch"),
    ("POST", "/workspaces/ws_0123456789ab/file-sessions/fs_nope/operations"),
    ("POST", "/tokens"),
    ("PUT", "/workspaces/ws_0123456789ab/opencode/session/x"),
    ("GET", "/workspaces/ws_0123456789ab/opencode/file"),
    ("POST", "/system/health"),  # public for GET only
]


@pytest.mark.anyio
@pytest.mark.parametrize("route", BODY_PATHS)
@pytest.mark.parametrize("credentials", UNAUTHENTICATED)
async def test_an_unauthenticated_body_is_refused_before_a_byte_is_read(
    ctx: AppContext, route: tuple[str, str], credentials: dict[str, str]
) -> None:
    app = create_app(ctx)
    for headers in ({"content-length": str(47 * MiB)}, {"transfer-encoding": "chunked"}):
        out = await exchange(app, *route, {**credentials, **headers}, size=47 * MiB)
        assert (out.status, out.receives) == (401, 0), route
        assert out.json()["error"]["code"] == "unauthorized"


@pytest.mark.anyio
async def test_the_guard_authenticates_once_and_the_route_reuses_it(ctx: AppContext) -> None:
    _, token = ctx.tokens.mint(scope="owner", label="t", ttl_seconds=None)
    calls = 0
    verify = ctx.tokens.verify

    def counting(presented: str) -> Any:
        nonlocal calls
        calls += 1
        return verify(presented)

    ctx.tokens.verify = counting  # type: ignore[method-assign]
    async with asgi_client(ctx, token=token) as client:
        r = await client.post("/tokens", json={"scope": "viewer"})  # host only: the caller was found
        assert r.status_code == 403 and calls == 1
        r = await client.get("/workspaces")  # no body: the route's dependency authenticates
        assert r.status_code == 200 and calls == 2


# -- the cap is the matched route's ------------------------------------------------------------------


def _template_to_openapi(template: str) -> str:
    return template.replace("{path:path}", "{path}")


def test_every_capped_template_is_a_route_of_the_app(ctx: AppContext) -> None:
    app = create_app(ctx)
    assert isinstance(app, GuardMiddleware)
    schema = app.app.openapi()  # type: ignore[attr-defined]
    for route in body_routes(DEFAULT_PROXY_MAX_BODY):
        operations = schema["paths"].get(_template_to_openapi(route.template), {})
        assert {m.lower() for m in route.methods} <= set(operations), route.template


@pytest.mark.anyio
async def test_large_caps_follow_the_route_not_the_path_suffix(ctx: AppContext) -> None:
    app = create_app(ctx)
    auth = {**_bearer(ctx.credentials.client_token), "content-type": "application/json"}
    big = {**auth, "content-length": str(2 * MiB)}
    for path in ("/files/sessions/fs_nope/write-batch", "/workspaces/ws_0123456789ab/file-sessions/fs_x/ops"):
        out = await exchange(app, "POST", path, big, size=2 * MiB)
        assert out.status not in (413, 500) and out.delivered == 2 * MiB, path  # read, then refused by the route
    for method, path in (
        ("POST", "/nonexistent/write-batch"),  # the old suffix rule let this one carry 48 MiB
        ("POST", "/tokens"),
        ("GET", "/files/sessions/fs_nope/write-batch"),  # a GET body keeps the default cap everywhere
        ("GET", "/workspaces/ws_0123456789ab/opencode/file"),
        ("OPTIONS", "/workspaces"),
    ):
        out = await exchange(app, method, path, big, size=2 * MiB)
        assert (out.status, out.receives) == (413, 0), path
        assert out.json()["error"]["code"] == "payload_too_large"
    over = {**auth, "content-length": str(WRITE_BODY_LIMIT + 1)}
    out = await exchange(app, "POST", "/files/sessions/fs_nope/write-batch", over, size=WRITE_BODY_LIMIT + 1)
    assert (out.status, out.receives) == (413, 0)


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])  # the proxy streams the others: see test_proxy_pinning
async def test_a_chunked_body_is_counted_and_cut_at_the_cap(ctx: AppContext, method: str) -> None:
    app = create_app(ctx)
    headers = {**_bearer(ctx.credentials.client_token), "transfer-encoding": "chunked"}
    out = await exchange(app, method, "/workspaces/ws_0123456789ab/opencode/file", headers, size=200 * MiB)
    assert out.status == 413
    assert out.delivered <= MiB + CHUNK  # it stopped reading at the cap


@pytest.mark.anyio
async def test_public_routes_answer_without_credentials_and_cap_bodies(ctx: AppContext) -> None:
    app = create_app(ctx)
    for path in sorted(PUBLIC_PATHS):
        out = await exchange(app, "GET", path, {"content-length": "10"}, size=10)
        assert out.status == 200, path
        out = await exchange(app, "GET", path, {"content-length": str(5 * MiB)}, size=5 * MiB)
        assert (out.status, out.receives) == (413, 0), path


@pytest.mark.anyio
async def test_every_other_route_of_the_schema_needs_credentials(ctx: AppContext) -> None:
    app = create_app(ctx)
    assert isinstance(app, GuardMiddleware)
    schema = app.app.openapi()  # type: ignore[attr-defined]
    for template, operations in schema["paths"].items():
        path = template.replace("{ws_id}", "ws_0123456789ab").replace("{path}", "x")
        path = path.replace("{", "").replace("}", "")
        for method in operations:
            if path in PUBLIC_PATHS:
                continue
            for headers in ({}, {"content-length": "5"}):
                out = await exchange(app, method.upper(), path, headers, size=int(headers.get("content-length", 0)))
                assert out.status == 401 and out.delivered == 0, (method, path, headers)


# -- hostile input at random ---------------------------------------------------------------------------

_KNOWN = [
    "/tokens",
    "/tokens/tok_1",
    "/workspaces",
    "/workspaces/local",
    "/workspaces/ws_0123456789ab",
    "/workspaces/ws_0123456789ab/activate",
    "/workspaces/ws_0123456789ab/file-sessions",
    "/workspaces/ws_0123456789ab/file-sessions/fs_1/write-batch",
    "/files/sessions/fs_1/write-batch",
    "/files/sessions/fs_1/ops",
    "/approvals/ap_1",
    "/shutdown",
    "/system/runtime/upgrade",
    "/system/services/opencode/restart",
    *sorted(PUBLIC_PATHS),
]
PATHS = st.one_of(
    st.sampled_from(_KNOWN),
    st.builds(lambda rest: "/workspaces/ws_0123456789ab/opencode/" + rest, st.text("abc/.%_-", max_size=20)),
    st.builds(lambda rest: "/" + rest, st.text("abcdefghijklmnopqrstuvwxyz/-_.", max_size=30)),
)
METHODS = st.sampled_from(["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "PROPFIND"])
CREDENTIALS = st.sampled_from(UNAUTHENTICATED)
LENGTHS = st.one_of(st.none(), st.integers(min_value=0, max_value=100 * MiB))  # None: chunked


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=METHODS, path=PATHS, credentials=CREDENTIALS, length=LENGTHS)
def test_no_body_is_read_before_authentication_whatever_the_request(
    ctx: AppContext, method: str, path: str, credentials: dict[str, str], length: int | None
) -> None:
    app = _APPS.setdefault(id(ctx), create_app(ctx))
    framing = {"transfer-encoding": "chunked"} if length is None else {"content-length": str(length)}
    size = min(length if length is not None else 3 * MiB, 3 * MiB)  # a client that stops early is fine
    out = asyncio.run(exchange(app, method, path, {**credentials, **framing}, size=size))
    assert out.status < 500, out.body
    public = method in ("GET", "HEAD") and path in PUBLIC_PATHS
    if not public:
        assert out.delivered == 0, (method, path)
        if length != 0:
            assert (out.status, out.receives) == (401, 0), (method, path)
    assert out.delivered <= MiB + CHUNK


_APPS: dict[int, Any] = {}


# -- the bound on large bodies -------------------------------------------------------------------------


def _principal(authorization: str | None, host_token: str | None) -> Principal:
    if authorization is None or not authorization.startswith("Bearer "):
        raise AuthError("missing credentials")
    return Principal(role=Role.CLIENT, subject=authorization.removeprefix("Bearer "), scope="owner")


@dataclass
class Held:
    """An app that reads the body, then answers once ``release`` is set."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    seen: list[int] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        self.seen.append(len(message["body"]))
        await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


def _guarded(app: Held, gate: LargeBodyGate) -> GuardMiddleware:
    route = BodyRoute(template="/big", methods=frozenset({"POST"}), limit=8 * MiB)
    return GuardMiddleware(app, authenticate=_principal, body_limits=BodyLimits([route]), gate=gate)


async def _until(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` (the in-process twin of ``tests.helpers.wait_for``)."""
    try:
        async with asyncio.timeout(WAIT):
            while not condition():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out after {WAIT}s waiting for {what}") from None


@pytest.mark.anyio
async def test_large_bodies_wait_for_a_slot_per_caller_and_per_server() -> None:
    gate = LargeBodyGate(total=2, per_caller=1, wait=0.3)
    inner = Held()
    app = _guarded(inner, gate)
    big = {"content-length": str(2 * MiB)}
    first = asyncio.create_task(exchange(app, "POST", "/big", {**_bearer("a"), **big}, size=2 * MiB))
    await _until(lambda: gate.in_use == 1, "a's slot")
    again = await exchange(app, "POST", "/big", {**_bearer("a"), **big}, size=2 * MiB)
    assert (again.status, again.receives) == (503, 0)  # a's share is taken; nothing of it was read
    other = asyncio.create_task(exchange(app, "POST", "/big", {**_bearer("b"), **big}, size=2 * MiB))
    await _until(lambda: gate.in_use == 2, "b's slot")
    third = await exchange(app, "POST", "/big", {**_bearer("c"), **big}, size=2 * MiB)
    assert (third.status, third.receives) == (503, 0) and third.json()["error"]["code"] == "busy"
    small = asyncio.create_task(exchange(app, "POST", "/big", {**_bearer("c"), "content-length": "5"}, size=5))
    await _until(lambda: 5 in inner.seen, "the small body")  # small bodies never wait for a slot
    assert gate.in_use == 2
    inner.release.set()
    assert [(await first).status, (await other).status, (await small).status] == [200, 200, 200]
    assert (gate.in_use, gate.callers) == (0, 0)


@pytest.mark.anyio
async def test_a_chunked_body_takes_its_slot_when_it_grows_large() -> None:
    gate = LargeBodyGate(total=1, per_caller=1, wait=0.3)
    inner = Held()
    app = _guarded(inner, gate)
    holder = asyncio.create_task(
        exchange(app, "POST", "/big", {**_bearer("a"), "content-length": str(2 * MiB)}, size=2 * MiB)
    )
    await _until(lambda: gate.in_use == 1, "the slot")
    out = await exchange(app, "POST", "/big", {**_bearer("b"), "transfer-encoding": "chunked"}, size=4 * MiB)
    assert out.status == 503 and out.delivered <= LARGE_BODY_THRESHOLD + CHUNK
    inner.release.set()
    assert (await holder).status == 200
    assert (gate.in_use, gate.callers) == (0, 0)


@pytest.mark.anyio
async def test_a_slow_or_vanishing_body_gives_its_slot_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bodies_module, "BODY_READ_TIMEOUT", 0.2)
    gate = LargeBodyGate()
    inner = Held()
    inner.release.set()
    app = _guarded(inner, gate)
    headers = {**_bearer("a"), "transfer-encoding": "chunked"}
    out = await exchange(app, "POST", "/big", headers, size=4 * MiB, stall=asyncio.Event())
    assert out.status == 408 and out.json()["error"]["code"] == "request_timeout"
    assert (gate.in_use, gate.callers) == (0, 0)

    async def vanishing() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        raise AssertionError(f"nobody to answer: {message}")

    scope = _scope("POST", "/big", {**_bearer("a"), "content-length": str(2 * MiB)})
    await app(scope, vanishing, send)
    assert inner.seen == [] and (gate.in_use, gate.callers) == (0, 0)


# -- a real server ---------------------------------------------------------------------------------------


def _answer(url: str, head: str) -> bytes:
    """Send only a request's head (its body announced, not sent) and return the answer's status line; the
    server must answer without waiting for the body."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=WAIT) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
        reply = b""
        while b"\r\n" not in reply:
            data = sock.recv(4096)
            if not data:
                break
            reply += data
        return reply.split(b"\r\n", 1)[0]


def _rss(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)


@pytest.fixture
def server(real_server: Callable[..., ServerProcess]) -> Iterator[ServerProcess]:
    yield real_server("--approval", "auto", "--no-opencode-hot-reload")


def test_a_real_server_refuses_unauthenticated_bodies_without_reading_them(server: ServerProcess) -> None:
    assert server.proc is not None
    before = _rss(server.proc.pid)
    host = server.url.removeprefix("http://")
    head = f"POST /nonexistent/write-batch HTTP/1.1\nHost: {host}\nContent-Length: {47 * MiB}\n"
    answers: list[bytes] = []

    def announce() -> None:
        try:
            answers.append(_answer(server.url, head))
        except OSError as exc:  # the old guard waited for the 47 MiB: the read timed out
            answers.append(repr(exc).encode())

    threads = [threading.Thread(target=announce) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WAIT * 2)
    # Every body was announced and never sent: an answer at all means the server did not wait for it.
    assert answers == [b"HTTP/1.1 401 Unauthorized"] * 12
    assert _rss(server.proc.pid) - before < 50 * MiB
    with server.client() as client:
        ws = client.get("/workspaces").json()["data"]["items"][0]["id"]
        token = server.info["clientToken"]
        get = f"GET /workspaces/{ws}/opencode/path HTTP/1.1\nHost: {host}\nAuthorization: Bearer {token}\n"
        assert _answer(server.url, get + f"Content-Length: {5 * MiB}\n") == b"HTTP/1.1 413 Request Entity Too Large"
        assert client.get("/system/health").status_code == 200
