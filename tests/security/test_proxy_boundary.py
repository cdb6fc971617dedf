"""The opencode proxy as a security boundary, against the real opencode: pinned to its workspace in
every form opencode takes a directory, scopes enforced per operation, other workspaces' objects unseen."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from openwork.proxy import policy
from tests.helpers import ServerProcess, serve_args

pytestmark = pytest.mark.e2e

SCOPES = ("viewer", "collaborator", "owner")


class Stack:
    """One real server with two workspaces and a token per scope (and owners limited to A or B)."""

    def __init__(self, server: ServerProcess, root: Path, a: str, b: str, tokens: dict[str, str]) -> None:
        self.server, self.root, self.a, self.b, self.tokens = server, root, a, b, tokens

    def client(self, who: str) -> httpx.Client:
        token = self.server.info["clientToken"] if who == "client" else self.tokens[who]
        return httpx.Client(
            base_url=self.server.url, headers={"authorization": f"Bearer {token}"}, timeout=30.0, trust_env=False
        )

    def oc(self, ws: str, path: str) -> str:
        return f"/workspaces/{ws}/opencode/{path.lstrip('/')}"


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENWORK_", "OPENCODE_"))}
    home = root / "home"
    for sub in ("config", "data", "cache", "state"):
        (home / sub).mkdir(parents=True, exist_ok=True)
        env[f"XDG_{sub.upper()}_HOME"] = str(home / sub)
    env |= {"HOME": str(home), "OPENWORK_DATA_DIR": str(root / "data"), "OPENCODE_DISABLE_AUTOUPDATE": "1"}
    return env


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, opencode_bin: Path) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("boundary")
    (root / "alpha" / "sub").mkdir(parents=True)
    (root / "beta").mkdir()
    (root / "alpha" / "a.txt").write_text("alpha file\n")
    (root / "secret.txt").write_text("host secret\n")
    server = ServerProcess(serve_args(root / "alpha", opencode_bin, "--approval", "auto"), env=_env(root))
    server.start(log_file=root / "server.log")
    try:
        host = httpx.Client(
            base_url=server.url, headers={"x-openwork-host-token": server.info["hostToken"]}, timeout=30.0
        )
        with host:
            ids = []
            for name in ("alpha", "beta"):
                r = host.post("/workspaces/local", json={"folderPath": str(root / name)})
                assert r.status_code in (200, 201), r.text
                ids.append(r.json()["data"]["workspace"]["id"])
            tokens = {}
            for scope in SCOPES:
                tokens[scope] = host.post("/tokens", json={"scope": scope}).json()["data"]["token"]
            for key, ws in (("owner@a", ids[0]), ("owner@b", ids[1]), ("viewer@a", ids[0])):
                r = host.post("/tokens", json={"scope": key.split("@")[0], "workspaceIds": [ws]})
                assert r.status_code == 201, r.text
                tokens[key] = r.json()["data"]["token"]
        yield Stack(server, root, ids[0], ids[1], tokens)
    finally:
        server.stop()


def _no_secret(r: httpx.Response) -> None:
    assert "host secret" not in r.text
    assert r.status_code in (400, 403, 404), (r.status_code, r.text[:300])


# -- escapes ------------------------------------------------------------------------------------------


def test_location_and_directory_selectors_pointing_elsewhere_are_refused(stack: Stack) -> None:
    secret = str(stack.root / "secret.txt").lstrip("/")
    with stack.client("client") as c:
        for params in (
            {"location[directory]": "/"},
            {"location.directory": "/"},
            {"Location[Directory]": "/"},
            {"location[directory][]": "/"},
            {"directory": "/"},
            {"location[workspace]": "wrk_x"},
            {"workspace": "wrk_x"},
        ):
            _no_secret(c.get(stack.oc(stack.a, f"api/fs/read/{secret}"), params=params))
        _no_secret(c.get(stack.oc(stack.a, "api/fs/list"), params={"location[directory]": "/root"}))
        _no_secret(c.get(stack.oc(stack.a, "api/fs/read/a.txt"), headers={"x-opencode-directory": "/"}))
        # Encoded slashes and dot segments never reach opencode's router.
        for path in ("api/fs/read/..%2F..%2Fsecret.txt", "api/fs/read/%2e%2e/secret.txt", "session/%2F..%2Fconfig"):
            _no_secret(c.get(stack.oc(stack.a, path)))
        # The workspace's own folder, spelled out, is accepted: an SDK configured with it keeps working.
        own = c.get(stack.oc(stack.a, "api/fs/read/a.txt"), params={"location[directory]": str(stack.root / "alpha")})
        assert own.status_code == 200 and own.text.startswith("alpha file")


def test_a_session_cannot_be_created_in_another_folder(stack: Stack) -> None:
    with stack.client("client") as c:
        body = {"location": {"directory": str(stack.root / "beta")}}
        assert c.post(stack.oc(stack.a, "api/session"), json=body).status_code == 403
        made = c.post(stack.oc(stack.a, "api/session"), json={})
        assert made.status_code == 200, made.text
        assert made.json()["data"]["location"]["directory"] == str(stack.root / "alpha")
        assert c.post(stack.oc(stack.a, "session"), json={"workspaceID": "wrk_x"}).status_code == 403


def test_pty_needs_act_scope_and_a_cwd_inside_the_workspace(stack: Stack) -> None:
    marker = stack.root / "pty-marker"
    shell = {"command": "/bin/sh", "args": ["-c", f"id > {marker}"]}
    with stack.client("viewer") as viewer, stack.client("collaborator") as collab:
        assert viewer.post(stack.oc(stack.a, "pty"), json={**shell, "cwd": "sub"}).status_code == 403
        assert viewer.post(stack.oc(stack.a, "api/pty"), json={**shell, "cwd": "sub"}).status_code == 403
        for cwd in ("/", "..", str(stack.root), "sub/../../"):
            assert collab.post(stack.oc(stack.a, "pty"), json={**shell, "cwd": cwd}).status_code == 403, cwd
        (stack.root / "alpha" / "escape").symlink_to(stack.root)
        assert collab.post(stack.oc(stack.a, "pty"), json={**shell, "cwd": "escape"}).status_code == 403
        assert not marker.exists()
        ok = collab.post(stack.oc(stack.a, "pty"), json={"command": "/bin/true", "cwd": "sub"})
        assert ok.status_code == 200, ok.text
        assert ok.json()["cwd"] == str(stack.root / "alpha" / "sub")


# -- ownership --------------------------------------------------------------------------------------


def test_another_workspaces_session_is_404_exactly_like_a_missing_one(stack: Stack) -> None:
    with stack.client("client") as c:
        sid = c.post(stack.oc(stack.a, "session"), json={}).json()["id"]
        for method, path, body in (
            ("GET", f"session/{sid}", None),
            ("PATCH", f"session/{sid}", {"title": "stolen"}),
            ("GET", f"session/{sid}/message", None),
            ("GET", f"api/session/{sid}", None),
            ("DELETE", f"session/{sid}", None),
        ):
            theirs = c.request(method, stack.oc(stack.b, path), json=body)
            missing = c.request(method, stack.oc(stack.b, path.replace(sid, "ses_doesnotexist")), json=body)
            assert theirs.status_code == missing.status_code == 404, (path, theirs.text)
            assert theirs.json()["error"]["code"] == missing.json()["error"]["code"] == "not_found"
        kept = c.get(stack.oc(stack.a, f"session/{sid}"))
        assert kept.status_code == 200 and kept.json()["title"] != "stolen"


def test_listings_stay_in_the_workspace_even_with_a_forged_cursor(stack: Stack) -> None:
    with stack.client("client") as c:
        theirs = c.post(stack.oc(stack.b, "session"), json={}).json()["id"]
        forged = {"directory": str(stack.root / "beta"), "anchor": {"id": "ses_zzz", "time": 9e12, "direction": "next"}}
        cursor = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
        for params in ({}, {"cursor": cursor}, {"project": "global"}):
            r = c.get(stack.oc(stack.a, "api/session"), params=params)
            if r.status_code == 200:
                assert theirs not in r.text
            else:
                assert r.status_code in (400, 403), r.text


def test_global_routes_only_for_tokens_that_may_span_workspaces(stack: Stack) -> None:
    for who in ("viewer", "collaborator", "owner@a", "viewer@a"):
        with stack.client(who) as c:
            for path in ("global/config", "project", "api/session/active", "experimental/session"):
                assert c.get(stack.oc(stack.a, path)).status_code == 403, (who, path)
            assert c.post(stack.oc(stack.a, "global/dispose")).status_code == 403
    with stack.client("owner") as owner:
        assert owner.get(stack.oc(stack.a, "global/config")).status_code == 200
        assert owner.get(stack.oc(stack.a, "project")).status_code == 200


def test_global_event_stream_is_refused_to_a_workspace_limited_token(stack: Stack) -> None:
    with stack.client("owner@a") as c:
        assert c.get(stack.oc(stack.a, "global/event")).status_code == 403


def test_a_limited_token_sees_no_other_workspace(stack: Stack) -> None:
    with stack.client("owner@a") as c:
        assert c.get(stack.oc(stack.a, "path")).status_code == 200
        for path in ("path", "session", "event"):
            assert c.get(stack.oc(stack.b, path)).status_code == 404
        assert c.get(f"/workspaces/{stack.b}/events").status_code == 404


# -- the policy against the live document ----------------------------------------------------------


def _live_doc(stack: Stack) -> dict[str, Any]:
    with stack.client("client") as c:
        r = c.get(stack.oc(stack.a, "doc"))
    assert r.status_code == 200, r.text[:200]
    return dict(r.json())


def test_every_operation_of_the_live_doc_is_classified_exactly_once(stack: Stack) -> None:
    doc = _live_doc(stack)
    live = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    table = [(op.method, op.template) for op in policy.operations()]
    assert len(table) == len(set(table)) == len(live)
    assert set(table) == live


def test_every_directory_like_name_of_the_live_doc_is_handled(stack: Stack) -> None:
    doc = _live_doc(stack)
    assert list(policy.doc_names(doc)), "the matcher found nothing: the test would prove nothing"
    assert policy.unhandled(doc) == []


# One live request per scope x class cell: (class, reach) -> a harmless operation of that class.
CELLS = {
    ("read", "workspace"): ("GET", "path"),
    ("act", "workspace"): ("POST", "session"),
    ("admin", "workspace"): ("GET", "config"),
    ("read", "global"): ("GET", "project"),
    ("admin", "global"): ("GET", "global/config"),
}
ALLOWED = {
    "viewer": {("read", "workspace")},
    "collaborator": {("read", "workspace"), ("act", "workspace")},
    "owner@a": {("read", "workspace"), ("act", "workspace"), ("admin", "workspace")},
    "owner": set(CELLS),
    "client": set(CELLS),
}


@pytest.mark.parametrize("who", sorted(ALLOWED))
def test_scope_by_class_matrix(stack: Stack, who: str) -> None:
    with stack.client(who) as c:
        for cell, (method, path) in CELLS.items():
            op = policy.match(method, tuple(path.split("/")))
            assert op is not None and (op.access.name.lower(), op.reach) == cell
            status = c.request(method, stack.oc(stack.a, path), json={} if method == "POST" else None).status_code
            if cell in ALLOWED[who]:
                assert status == 200, (who, cell, status)
            else:
                assert status == 403, (who, cell, status)


def test_no_process_started_by_refused_requests(stack: Stack) -> None:
    # The refused pty attempts above left no marker; nor does a refused shell on a session.
    marker = stack.root / "shell-marker"
    with stack.client("client") as c, stack.client("viewer") as viewer:
        sid = c.post(stack.oc(stack.a, "session"), json={}).json()["id"]
        r = viewer.post(stack.oc(stack.a, f"session/{sid}/shell"), json={"agent": "build", "command": f"id>{marker}"})
        assert r.status_code == 403
    assert not marker.exists()


def test_a_new_directory_like_name_in_the_doc_fails_the_coverage_check(stack: Stack) -> None:
    doc = _live_doc(stack)
    path_op = doc["paths"]["/path"]["get"]
    path_op["parameters"] = [*path_op.get("parameters", []), {"in": "query", "name": "rootDir", "schema": {}}]
    body = {"type": "object", "properties": {"worktreePath": {"type": "string"}}}
    doc["paths"]["/session"]["post"]["requestBody"] = {"content": {"application/json": {"schema": body}}}
    doc["paths"]["/brand/new"] = {"get": {"operationId": "brand.new"}}
    assert sorted(policy.unhandled(doc)) == [
        "GET /brand/new: not classified",
        "GET /path: query 'rootDir'",
        "POST /session: body 'worktreePath'",
    ]


def test_answers_come_in_the_encoding_the_caller_asked_for(stack: Stack) -> None:
    """opencode compresses large answers for callers that accept gzip; one that asked for nothing gets
    plain bytes (curl and jq must work through the proxy), and one that asked for gzip gets gzip."""
    with stack.client("owner") as c:
        c.headers.pop("accept-encoding", None)  # httpx's default; this caller sends none
        plain = c.get(stack.oc(stack.a, "provider"))
        assert plain.status_code == 200 and "content-encoding" not in plain.headers
        assert isinstance(json.loads(plain.content), dict)  # decodable without any decompression
        asked = c.get(stack.oc(stack.a, "provider"), headers={"accept-encoding": "gzip"})
        assert asked.status_code == 200 and asked.headers.get("content-encoding") == "gzip"
        assert isinstance(asked.json(), dict)  # httpx decodes what it asked for
        assert len(asked.headers.get_list("date")) == 1


def _ws_url(stack: Stack, ws: str, path: str) -> str:
    return stack.server.url.replace("http://", "ws://") + stack.oc(ws, path)


def test_the_terminal_websocket_is_proxied_with_the_same_rules(stack: Stack) -> None:
    """A pty's output read back through the proxy's WebSocket; a viewer token is refused at the handshake."""
    import asyncio

    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    with stack.client("collaborator") as c:
        made = c.post(
            stack.oc(stack.a, "pty"),
            json={"command": "/bin/sh", "args": ["-c", "sleep 1; printf 'hello-from-pty\\n'; sleep 5"], "cwd": "sub"},
        )
        assert made.status_code == 200, made.text
        pty_id = made.json()["id"]

    async def read_back(who: str) -> str:
        headers = {"authorization": f"Bearer {stack.tokens[who]}"}
        async with connect(_ws_url(stack, stack.a, f"pty/{pty_id}/connect"), additional_headers=headers) as ws:
            seen = ""
            async with asyncio.timeout(30):
                while "hello-from-pty" not in seen:
                    frame = await ws.recv()
                    seen += frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
            return seen

    assert "hello-from-pty" in asyncio.run(read_back("collaborator"))
    # A viewer may not act on a terminal; workspace B's owner may not reach A's workspace at all.
    for who in ("viewer", "owner@b"):
        with pytest.raises(InvalidStatus) as refused:
            asyncio.run(read_back(who))
        assert refused.value.response.status_code == 403, who
