"""Whatever spelling a caller uses for a directory, what reaches opencode carries the workspace's folder.

The upstream is a recording stand-in (a real HTTP server on 127.0.0.1) so every forwarded request can be
inspected; the real-opencode examples are in test_proxy_boundary.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openwork.api import AppContext, create_app
from openwork.runtime.gateway import OpencodeGateway
from openwork.workspaces.registry import validate_folder
from tests.apphelpers import asgi_client, make_context


class Recorder(ThreadingHTTPServer):
    """Answers 200 ``{}`` (a session lookup: the session lives in ``folder``) and records each request."""

    daemon_threads = True

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.seen: list[dict[str, Any]] = []
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: Recorder

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        self.server.seen.append(
            {
                "method": self.command,
                "path": url.path,
                "query": parse_qsl(url.query, keep_blank_values=True),
                "headers": [(k.lower(), v) for k, v in self.headers.items()],
                "body": body,
            }
        )
        # A session lookup: ids starting with ses_other live in another folder.
        owner = "/elsewhere" if url.path.startswith("/session/ses_other") else self.server.folder
        payload = json.dumps({"directory": owner} if url.path.startswith("/session/") else {}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.send_header("connection", "x-upstream-hop")  # declares that header hop-by-hop
        self.send_header("x-upstream-hop", "1")
        self.send_header("x-upstream-end", "1")
        self.send_header("access-control-allow-origin", "*")  # opencode's own CORS: never ours to give
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = _answer

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def _stand_in(ctx: AppContext, workspace: Path) -> Iterator[tuple[AppContext, Recorder, str]]:
    """Register ``workspace`` and point ``ctx``'s gateway at a recording stand-in for opencode."""
    record, _ = ctx.registry.add(validate_folder(str(workspace)))
    recorder = Recorder(record.path)
    thread = threading.Thread(target=recorder.serve_forever, daemon=True)
    thread.start()
    stand_in = SimpleNamespace(url=f"http://127.0.0.1:{recorder.server_address[1]}", auth=None)
    ctx.gateway = OpencodeGateway(stand_in, lambda: True)  # type: ignore[arg-type]
    try:
        yield ctx, recorder, record.id
    finally:
        recorder.shutdown()
        recorder.server_close()
        thread.join(timeout=5)


@pytest.fixture
def pinned(isolated_env: Path, workspace: Path) -> Iterator[tuple[AppContext, Recorder, str]]:
    (workspace / "sub").mkdir()
    with _stand_in(make_context(isolated_env, workspace), workspace) as parts:
        yield parts


_APPS: dict[int, Any] = {}


def _app(ctx: AppContext) -> Any:
    """One app per context: building FastAPI's app for every example would dominate the test's time."""
    return _APPS.setdefault(id(ctx), create_app(ctx))


KEYS = st.sampled_from(
    [
        "directory",
        "Directory",
        " DIRECTORY",
        "location[directory]",
        "location.directory",
        "Location[Directory]",
        "location[directory][]",
        "location[][directory]",
        "location[workspace]",
        "workspace",
        "x[directory]",
        "project",
        "worktree",
    ]
)
HEADERS = st.sampled_from(["x-opencode-directory", "X-OpenCode-Directory", "x-opencode-workspace"])
OPS = st.sampled_from([("GET", "path"), ("GET", "api/fs/list"), ("POST", "api/session"), ("POST", "pty"), ("GET", "x")])


def _values(folder: str) -> st.SearchStrategy[str]:
    return st.sampled_from([folder, folder + "/", folder + "/sub/..", "/", "/tmp", "", "..", "sub", folder + "/sub"])


def _check_forwarded(seen: dict[str, Any], folder: str) -> None:
    query = seen["query"]
    assert [v for k, v in query if k == "directory"] == [folder]
    for key, value in query:
        low = key.lower()
        if any(part in low for part in ("directory", "location", "workspace", "worktree", "project", "cwd")):
            assert key in ("directory", "location[directory]") and value == folder, (key, value)
    opencode_headers = [(k, v) for k, v in seen["headers"] if k.startswith("x-opencode-")]
    assert opencode_headers == [("x-opencode-directory", folder)]
    if seen["body"]:
        body = json.loads(seen["body"])
        if seen["path"] == "/api/session":  # the documented body selectors (the doc test covers the rest)
            assert body["location"] == {"directory": folder}
        if "cwd" in body and seen["path"] == "/pty":
            assert body["cwd"] == folder or body["cwd"].startswith(folder + "/")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_spelling_is_pinned_or_refused(pinned: tuple[AppContext, Recorder, str], data: st.DataObject) -> None:
    ctx, recorder, ws_id = pinned
    app = _app(ctx)
    folder = recorder.folder
    method, path = data.draw(OPS)
    query = data.draw(st.lists(st.tuples(KEYS, _values(folder)), max_size=3))
    headers = dict(data.draw(st.lists(st.tuples(HEADERS, _values(folder)), max_size=2)))
    body: dict[str, Any] | None = None
    if method == "POST":
        body = {}
        if data.draw(st.booleans()):
            body["location"] = {"directory": data.draw(_values(folder))}
        if data.draw(st.booleans()):
            body["cwd"] = data.draw(_values(folder))

    async def send() -> int:
        transport = httpx.ASGITransport(app=app)
        auth = {"authorization": f"Bearer {ctx.credentials.client_token}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", headers=auth) as client:
            r = await client.request(
                method, f"/workspaces/{ws_id}/opencode/{path}", params=query, headers=headers, json=body
            )
            return r.status_code

    before = len(recorder.seen)
    status = asyncio.run(send())
    if status in (400, 403):
        assert len(recorder.seen) == before, "a refused request reached opencode"
        return
    assert status == 200
    assert len(recorder.seen) == before + 1
    _check_forwarded(recorder.seen[-1], folder)


@pytest.mark.anyio
async def test_bodies_without_a_selector_pass_through_byte_for_byte(pinned: tuple[AppContext, Recorder, str]) -> None:
    ctx, recorder, ws_id = pinned
    raw = b'{ "service":"x",  "level":"info", "message":"\\u00e9 \\"directory\\": \\"/\\"" }'
    async with asgi_client(ctx, token=ctx.credentials.client_token) as client:
        r = await client.post(f"/workspaces/{ws_id}/opencode/log", content=raw)
    assert r.status_code == 200
    assert recorder.seen[-1]["body"] == raw


@pytest.mark.anyio
async def test_a_session_owned_by_this_folder_is_forwarded(pinned: tuple[AppContext, Recorder, str]) -> None:
    ctx, recorder, ws_id = pinned
    async with asgi_client(ctx, token=ctx.credentials.client_token) as client:
        first = await client.get(f"/workspaces/{ws_id}/opencode/session/ses_1/message")
        second = await client.get(f"/workspaces/{ws_id}/opencode/session/ses_1")
    assert first.status_code == second.status_code == 200
    paths = [s["path"] for s in recorder.seen]
    assert paths == ["/session/ses_1", "/session/ses_1/message", "/session/ses_1"]  # one lookup, then cached


@pytest.fixture
def manual(isolated_env: Path, workspace: Path) -> Iterator[tuple[AppContext, Recorder, str]]:
    ctx = make_context(isolated_env, workspace, approval_mode="manual", approval_timeout_ms=20_000)
    with _stand_in(ctx, workspace) as parts:
        yield parts


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("reply", "path", "body"),
    [
        ("allow", "pty", {"command": "/bin/sh", "args": ["-c", "id"]}),
        ("deny", "pty", {"command": "/bin/sh", "args": ["-c", "id"]}),
        ("deny", "mcp", {"name": "x", "config": {"type": "local", "command": ["/bin/sh"]}}),
        ("deny", "vcs/apply", {"patch": "+++ b/opencode.json"}),
        ("deny", "config", {"mcp": {"x": {"type": "local", "command": ["/bin/sh"]}}}),
    ],
)
async def test_manual_mode_holds_a_minted_tokens_process_start_for_the_host(
    manual: tuple[AppContext, Recorder, str], reply: str, path: str, body: dict[str, Any]
) -> None:
    ctx, recorder, ws_id = manual
    _, token = ctx.tokens.mint(scope="owner", label="", ttl_seconds=None)
    method = "PATCH" if path == "config" else "POST"
    async with asgi_client(ctx, token=token) as client:
        request = asyncio.ensure_future(client.request(method, f"/workspaces/{ws_id}/opencode/{path}", json=body))
        for _ in range(200):  # the request is parked until the host answers
            if ctx.approvals.pending():
                break
            await asyncio.sleep(0.01)
        (pending,) = ctx.approvals.pending()
        assert pending.action == "process" and f"/{path}" in pending.paths[0]["path"]
        assert not recorder.seen, "opencode saw the request before the host decided"
        ctx.approvals.reply(pending.id, reply)  # type: ignore[arg-type]
        r = await asyncio.wait_for(request, 10)
    if reply == "allow":
        assert r.status_code == 200 and [s["path"] for s in recorder.seen] == [f"/{path}"]
    else:
        assert r.status_code == 403 and not recorder.seen


@pytest.mark.anyio
async def test_manual_mode_does_not_hold_the_client_token_or_reads(manual: tuple[AppContext, Recorder, str]) -> None:
    ctx, recorder, ws_id = manual
    _, token = ctx.tokens.mint(scope="collaborator", label="", ttl_seconds=None)
    async with asgi_client(ctx, token=ctx.credentials.client_token) as client:
        assert (
            await client.post(f"/workspaces/{ws_id}/opencode/pty", json={"command": "/bin/true"})
        ).status_code == 200
    async with asgi_client(ctx, token=token) as client:
        assert (await client.get(f"/workspaces/{ws_id}/opencode/pty")).status_code == 200
    assert [(s["method"], s["path"]) for s in recorder.seen] == [("POST", "/pty"), ("GET", "/pty")]
    assert not ctx.approvals.pending()


@pytest.fixture
def owning(isolated_env: Path, workspace: Path) -> Iterator[tuple[AppContext, Recorder, str]]:
    """The server's data dir inside its workspace (``--data-dir W/.owdata``)."""
    ctx = make_context(workspace / ".owdata", workspace)
    (workspace / "link").symlink_to(workspace / ".owdata")
    (workspace / "README.md").write_text("hello")
    with _stand_in(ctx, workspace) as parts:
        yield parts


@pytest.mark.anyio
async def test_the_servers_own_files_are_not_readable_through_opencode(
    owning: tuple[AppContext, Recorder, str],
) -> None:
    ctx, recorder, ws_id = owning
    base = f"/workspaces/{ws_id}/opencode"
    async with asgi_client(ctx, token=ctx.credentials.client_token) as client:
        for url, params in (
            ("file/content", {"path": ".owdata/secrets/host-token"}),
            ("file/content", {"path": "link/secrets/host-token"}),
            ("file/content", {"path": f"{recorder.folder}/.owdata/secrets/host-token"}),
            ("file", {"path": ".owdata/secrets"}),
            ("api/fs/read/.owdata/secrets/host-token", {}),
            ("api/fs/list", {"path": ".owdata"}),
            ("find", {"pattern": "owt_"}),
            ("api/fs/find", {"query": "host-token"}),
            ("vcs/diff", {"mode": "git"}),
            ("vcs/diff/raw", {}),
            ("vcs/status", {}),
            ("file/status", {}),
        ):
            r = await client.get(f"{base}/{url}", params=params)
            assert r.status_code == 403, (url, params, r.text)
        assert not recorder.seen
        assert (await client.get(f"{base}/file/content", params={"path": "README.md"})).status_code == 200


@pytest.mark.anyio
async def test_file_urls_in_message_parts_stay_inside_the_workspace(
    owning: tuple[AppContext, Recorder, str],
) -> None:
    ctx, recorder, ws_id = owning
    folder = recorder.folder
    base = f"/workspaces/{ws_id}/opencode"

    def part(url: str) -> dict[str, Any]:
        return {"noReply": True, "parts": [{"type": "file", "mime": "text/plain", "url": url}]}

    async with asgi_client(ctx, token=ctx.credentials.client_token) as client:
        for url in (
            "file:///etc/passwd",
            f"file://{folder}/.owdata/secrets/host-token",
            f"FILE://{folder}/link/secrets/host-token",
            f"file://{folder}/../",
            "file:../secret",
            f"file://{folder}/%2e%2e/x",
        ):
            r = await client.post(f"{base}/session/ses_1/message", json=part(url))
            assert r.status_code == 403, (url, r.text)
            r = await client.post(f"{base}/api/session/ses_1/prompt", json={"prompt": {"files": [{"uri": url}]}})
            assert r.status_code == 403, (url, r.text)
        ok = await client.post(f"{base}/session/ses_1/message", json=part(f"file://{folder}/README.md"))
        assert ok.status_code == 200, ok.text
    assert [s["path"] for s in recorder.seen] == ["/session/ses_1", "/session/ses_1/message"]


@pytest.mark.anyio
async def test_scope_project_and_a_foreign_parent_session_are_refused(
    pinned: tuple[AppContext, Recorder, str],
) -> None:
    ctx, recorder, ws_id = pinned
    base = f"/workspaces/{ws_id}/opencode"
    async with asgi_client(ctx, token=ctx.credentials.client_token) as client:
        assert (await client.get(f"{base}/session", params={"scope": "project"})).status_code == 403
        assert (await client.post(f"{base}/session", json={"parentID": "ses_other1"})).status_code == 404
        assert (await client.post(f"{base}/session", json={"parentID": "ses_mine"})).status_code == 200
    assert [s["path"] for s in recorder.seen] == ["/session/ses_other1", "/session/ses_mine", "/session"]


@pytest.mark.anyio
async def test_no_compressed_answer_for_a_caller_that_did_not_ask(pinned: tuple[AppContext, Recorder, str]) -> None:
    ctx, recorder, ws_id = pinned
    async with asgi_client(ctx, token=ctx.credentials.client_token) as client:
        del client.headers["accept-encoding"]  # httpx's default; this caller asks for nothing
        await client.get(f"/workspaces/{ws_id}/opencode/path")
        await client.get(f"/workspaces/{ws_id}/opencode/path", headers={"accept-encoding": "gzip"})
    sent = [dict(s["headers"]).get("accept-encoding") for s in recorder.seen]
    assert sent == [None, "gzip"]  # the caller's own choice, and nothing added for one that made none


@pytest.mark.anyio
async def test_head_and_options_are_forwarded_pinned_as_reads(pinned: tuple[AppContext, Recorder, str]) -> None:
    ctx, recorder, ws_id = pinned
    _, viewer = ctx.tokens.mint(scope="viewer", label="", ttl_seconds=None)
    async with asgi_client(ctx, token=viewer) as client:
        head = await client.head(f"/workspaces/{ws_id}/opencode/path", params={"directory": "/etc"})
        options = await client.options(f"/workspaces/{ws_id}/opencode/path")
        refused = await client.options(f"/workspaces/{ws_id}/opencode/path", params={"directory": "/etc"})
    assert head.status_code == 403 and refused.status_code == 403  # a foreign folder, as for GET
    assert options.status_code == 200, options.text
    async with asgi_client(ctx, token=viewer) as client:
        head = await client.head(f"/workspaces/{ws_id}/opencode/path")
    assert head.status_code == 200 and head.content == b""
    seen = [(s["method"], s["path"], dict(s["query"]).get("directory")) for s in recorder.seen]
    assert seen == [("OPTIONS", "/path", recorder.folder), ("HEAD", "/path", recorder.folder)]


@pytest.mark.anyio
async def test_hop_by_hop_headers_stop_at_the_proxy(pinned: tuple[AppContext, Recorder, str]) -> None:
    ctx, recorder, ws_id = pinned
    async with asgi_client(ctx, token=ctx.credentials.client_token) as client:
        answer = await client.get(
            f"/workspaces/{ws_id}/opencode/path",
            headers={"connection": "keep-alive, x-hop", "x-hop": "1", "x-end": "2", "te": "trailers"},
        )
    assert answer.status_code == 200
    sent = dict(recorder.seen[-1]["headers"])
    assert "x-hop" not in sent and "te" not in sent and sent.get("x-end") == "2"
    assert "x-upstream-hop" not in answer.headers and answer.headers.get("x-upstream-end") == "1"
    assert "access-control-allow-origin" not in answer.headers  # CORS is off here, whatever opencode says
    assert len(answer.headers.get_list("date")) <= 1  # opencode's own date is not repeated


@pytest.fixture
def small_cap(isolated_env: Path, workspace: Path) -> Iterator[tuple[AppContext, Recorder, str]]:
    with _stand_in(make_context(isolated_env, workspace, proxy_max_body=3 * MIB), workspace) as parts:
        yield parts


MIB = 1024 * 1024


@pytest.mark.anyio
async def test_large_bodies_stream_through_and_the_cap_is_enforced(small_cap: tuple[AppContext, Recorder, str]) -> None:
    ctx, recorder, ws_id = small_cap
    payload = bytes(range(256)) * (2 * MIB // 256)  # 2 MiB: over the old 1 MiB, under this server's 3 MiB
    async with asgi_client(ctx, token=ctx.credentials.client_token) as client:
        # A terminal's input (no selector, no file names): streamed as it arrives.
        passed = await client.put(f"/workspaces/{ws_id}/opencode/pty/pty_1", content=payload)
        assert passed.status_code == 200, passed.text
        assert recorder.seen[-1]["body"] == payload  # byte for byte
        # A prompt: its parts are read for file: URLs, so it is buffered, under the server's cap (not 1 MiB).
        prompt = json.dumps({"parts": [{"type": "text", "text": "p" * (2 * MIB)}]}).encode()
        asked = await client.post(f"/workspaces/{ws_id}/opencode/session/ses_mine/message", content=prompt)
        assert asked.status_code == 200, asked.text
        assert recorder.seen[-1]["body"] == prompt

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(4):
                yield b"x" * MIB  # 4 MiB, chunked: no length to refuse up front

        over = await client.post(f"/workspaces/{ws_id}/opencode/session/ses_mine/message", content=chunks())
        assert over.status_code == 413, over.text
        # A body the proxy must read (it selects a directory) stays under 1 MiB, whatever the server's cap.
        selecting = await client.post(
            f"/workspaces/{ws_id}/opencode/api/session", content=b'{"title": "' + b"t" * (2 * MIB) + b'"}'
        )
        assert selecting.status_code in (400, 413), selecting.text
    assert sum(1 for s in recorder.seen if s["path"] == "/api/session") == 0


@pytest.mark.anyio
async def test_a_percent_encoded_directory_header_is_the_folder_it_names(
    pinned: tuple[AppContext, Recorder, str],
) -> None:
    """The opencode SDK sends ``x-opencode-directory`` percent-encoded (opencode decodes it)."""
    from urllib.parse import quote

    ctx, recorder, ws_id = pinned
    async with asgi_client(ctx, token=ctx.credentials.client_token) as client:
        mine = await client.post(
            f"/workspaces/{ws_id}/opencode/session",
            json={},
            headers={"x-opencode-directory": quote(recorder.folder, safe="")},
        )
        assert mine.status_code == 200, mine.text
        other = await client.post(
            f"/workspaces/{ws_id}/opencode/session", json={}, headers={"x-opencode-directory": quote("/etc", safe="")}
        )
        assert other.status_code == 403
    assert dict(recorder.seen[-1]["headers"])["x-opencode-directory"] == recorder.folder  # the gateway's own
