"""The original daemon's routes without credentials (its CLI and the desktop send none) are answered only for a
local native program of our own user: loopback, a loopback Host, no Origin at all, and (Linux) a peer socket
of our uid. A web page (it always sends an Origin on a POST) and another local user get the usual 401."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from openwork.api.guard import _host_name
from openwork.auth.native import is_native_route, native_headers, peer_uid, same_user_loopback
from openwork.lifecycle.httpserver import build_server
from tests.helpers import ServerProcess, pid_alive

pytestmark = pytest.mark.e2e

NOBODY = 65534
CHILD_TIMEOUT = 30


def anonymous(server: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=10.0, trust_env=False)


def test_a_browser_origin_never_counts_as_a_native_client(real_server: Callable[..., ServerProcess]) -> None:
    server = real_server("--cors", "*")
    with anonymous(server) as client:
        for origin in ("http://localhost:5173", "https://evil.example", "tauri://localhost", "null"):
            refused = client.post("/shutdown", headers={"origin": origin}, json={})
            assert refused.status_code == 401, (origin, refused.text)
            assert client.get("/workspaces", headers={"origin": origin}).status_code == 401
        # Not one of the original daemon's routes: a token, always.
        for path in ("/system/status", "/runtime/versions", "/approvals", "/tokens"):
            assert client.get(path).status_code == 401, path
        listed = client.get("/workspaces").json()  # native: the original's unwrapped shape
        assert set(listed) == {"activeId", "workspaces"} and listed["workspaces"][0]["id"].startswith("ws-")
        health = client.get("/health").json()
        assert health["ok"] is True and health["opencode"]["pid"] == server.info["pids"]["opencode"]
        assert server.info["clientToken"] not in json.dumps(health)
        assert pid_alive(server.info["pids"]["server"])
        stopped = client.post("/shutdown", json={})
    assert stopped.status_code == 200 and stopped.json() == {"ok": True}
    assert server.wait(timeout=30) == 0


def _ask_as(uid: int, port: int, requests: list[bytes]) -> list[bytes]:
    """The status code of each raw HTTP/1.1 request, sent from a forked child running as ``uid``. No exec: the
    child uses this interpreter's loaded modules, so the other user needs no access to our Python
    installation (often under a private home). Every socket call has a timeout, so the pipe read ends."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        statuses = []
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            for request in requests:
                with socket.create_connection(("127.0.0.1", port), timeout=CHILD_TIMEOUT) as conn:
                    conn.sendall(request)
                    statuses.append(conn.recv(64).split(b" ")[1])
        finally:
            os.write(write_end, b",".join(statuses))
            os._exit(0)
    os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as answer:
            return answer.read().split(b",")
    finally:
        os.waitpid(pid, 0)


def test_another_local_user_is_refused(real_server: Callable[..., ServerProcess]) -> None:
    if os.getuid() != 0:
        pytest.skip("switching to another uid needs root; this run is not root")
    server = real_server()
    port = httpx.URL(server.url).port
    assert port is not None
    shutdown = b"POST /shutdown HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n"
    # Our own user holds a keep-alive connection; its client port is in /proc/net/tcp for anyone to read.
    # The other user names it in X-Forwarded-For (uvicorn believes that header from a loopback peer unless
    # told not to), and tries the plain request too.
    with socket.create_connection(("127.0.0.1", port), timeout=CHILD_TIMEOUT) as ours:
        ours.sendall(b"GET /workspaces HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert ours.recv(64).split(b" ")[1] == b"200"
        forged = f"x-forwarded-for: 127.0.0.1:{ours.getsockname()[1]}\r\n".encode()
        statuses = _ask_as(
            NOBODY,
            port,
            [
                shutdown + b"content-length: 2\r\nconnection: close\r\n\r\n{}",
                shutdown + forged + b"content-length: 2\r\nconnection: close\r\n\r\n{}",
                b"GET /workspaces HTTP/1.1\r\nHost: 127.0.0.1\r\n" + forged + b"connection: close\r\n\r\n",
            ],
        )
    assert statuses == [b"401", b"401", b"401"]
    assert pid_alive(server.info["pids"]["server"])


def test_the_rules_in_process() -> None:
    assert is_native_route("POST", "/shutdown") and is_native_route("GET", "/workspaces/ws-0123456789ab")
    assert is_native_route("POST", "/instances/%2Ftmp%2Fx/dispose")
    assert not is_native_route("GET", "/shutdown") and not is_native_route("POST", "/runtime/upgrade")
    assert not is_native_route("DELETE", "/workspaces/ws_0123456789ab")
    assert not is_native_route("GET", "/workspaces/ws_0123456789ab/opencode/session")
    with socket.create_server(("127.0.0.1", 0)) as listener, socket.create_connection(listener.getsockname()) as c:
        accepted, _ = listener.accept()
        with accepted:
            client: Any = c.getsockname()
            server: Any = listener.getsockname()
            assert peer_uid(client, server) == os.getuid()
            assert same_user_loopback(client, server)
            # The exact connection, not a port: the same ports on another loopback address are not it.
            assert peer_uid(("127.0.0.2", client[1]), server) is None
            assert peer_uid(client, ("127.0.0.1", server[1] ^ 1)) is None
            assert not same_user_loopback(("192.0.2.7", client[1]), server)
            assert not same_user_loopback(("127.0.0.2", client[1]), server)
            assert not same_user_loopback(None, server)
    assert peer_uid(client, server) is None  # closed: not in the table, fails closed


def test_what_a_browser_or_a_forwarder_adds_is_never_native() -> None:
    plain = ["host", "user-agent", "accept", "accept-encoding", "content-type", "content-length", "connection"]
    assert native_headers(plain)
    for added in (
        "origin", "referer", "cookie", "sec-fetch-mode", "sec-fetch-site", "sec-fetch-dest", "authorization",
        "x-openwork-host-token", "forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip", "via",
    ):  # fmt: skip
        assert not native_headers([*plain, added]), added
    assert not is_native_route("POST", "/shutdown\n") and not is_native_route("GET", "/health/")
    assert _host_name("127.0.0.1:8787") == "127.0.0.1" and _host_name("[::1]:8787") == "[::1]"
    assert _host_name("[::1]evil.example") == "" and _host_name("localhost:80:80") == ""


def test_the_server_ignores_proxy_headers(ctx: Any) -> None:
    """uvicorn would otherwise take the peer from X-Forwarded-For when it comes from loopback."""
    assert build_server(ctx).config.proxy_headers is False
