"""opencode relays under churn and at shutdown: every stream closes its upstream connection when its
client leaves, and Ctrl+C with relays open ends them cleanly before the process exits 130."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest

from openwork.constants import DEFAULT_STOP_TIMEOUT
from tests.helpers import ServerProcess, wait_for

pytestmark = pytest.mark.e2e

CYCLES = 500  # per route: well past the gateway pool's 200 connections
CLIENTS = 8  # concurrent subscribers; enough churn, and the test stays within seconds
FRAME_TIMEOUT = 10.0  # a stream's first frame (opencode answers /event with server.connected at once)
SETTLE_TIMEOUT = 10.0  # for the server's upstream connections to come back to the baseline
ANSWER_TIMEOUT = 5.0  # a proxied request after the churn: with a leaked pool it would hang for minutes
STREAMS_END_TIMEOUT = 3.0  # after SIGINT, for every open relay to end with a complete chunked body
# opencode itself may use its whole SIGTERM grace before the supervisor kills it; HTTP adds little
EXIT_TIMEOUT = DEFAULT_STOP_TIMEOUT + 10.0
_END_OF_BODY = b"\r\n0\r\n\r\n"  # the last chunk of a chunked body: the stream ended, not cut


def _workspace_id(server: ServerProcess) -> str:
    with server.client() as client:
        return str(client.get("/workspaces").json()["data"]["items"][0]["id"])


def _open(server: ServerProcess, path: str) -> tuple[socket.socket, bytes]:
    """A subscriber: request ``path`` and read its first SSE frame. Returns the socket and what it read."""
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=FRAME_TIMEOUT)
    received = b""
    try:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {server.info['clientToken']}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        while b"\r\n\r\n" not in received or b"\n\n" not in received.split(b"\r\n\r\n", 1)[1]:
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError(f"{path} closed before its first frame: {received!r}")
            received += chunk
    except TimeoutError:
        sock.close()
        raise AssertionError(f"no first frame from {path} in {FRAME_TIMEOUT}s (a full upstream pool?)") from None
    except BaseException:
        sock.close()
        raise
    assert received.startswith(b"HTTP/1.1 200"), received[:200]
    return sock, received


def _subscribe_and_leave(server: ServerProcess, path: str) -> None:
    sock, _ = _open(server, path)
    sock.close()


def _upstream_connections(server: ServerProcess) -> int:
    """The server's ESTABLISHED connections to opencode's port."""
    port = int(server.info["opencodeUrl"].rsplit(":", 1)[1])
    process = psutil.Process(server.info["pids"]["server"])
    return sum(
        1
        for c in process.net_connections("tcp")
        if c.status == psutil.CONN_ESTABLISHED and c.raddr and c.raddr[1] == port
    )


@pytest.mark.parametrize("route", ["events", "opencode/event"])
def test_subscribers_that_leave_close_their_upstream_connections(
    real_server: Callable[..., ServerProcess], route: str
) -> None:
    server = real_server("--no-opencode-hot-reload")
    path = f"/workspaces/{_workspace_id(server)}/{route}"
    # Only the supervisor's health connection, if opencode has not closed it as idle: nothing adds to
    # it before the proxied request at the end.
    baseline = _upstream_connections(server)
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        list(pool.map(lambda _: _subscribe_and_leave(server, path), range(CYCLES)))

    # The liveness probe (every few seconds) may reopen its one keep-alive health connection at any time,
    # whatever it was at the baseline (seen under load): one is allowed; a leak would leave one per cycle.
    allowed = max(baseline, 1)
    wait_for(
        lambda: _upstream_connections(server) <= allowed,
        timeout=SETTLE_TIMEOUT,
        what=f"upstream connections back to {allowed}",
    )
    with server.client() as client:
        answer = client.get(f"/workspaces/{_workspace_id(server)}/opencode/session", timeout=ANSWER_TIMEOUT)
    assert answer.status_code == 200, answer.text


def _read_until_end(sock: socket.socket, received: bytes, deadline: float) -> bytes:
    while not received.endswith(_END_OF_BODY):
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        received += chunk
    return received


def test_ctrl_c_with_fifty_relays_open_ends_them_and_exits_130_without_a_traceback(
    real_server: Callable[..., ServerProcess],
) -> None:
    server = real_server("--no-opencode-hot-reload")
    ws_id = _workspace_id(server)
    routes = [f"/workspaces/{ws_id}/events", f"/workspaces/{ws_id}/opencode/event"]
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        streams = list(pool.map(lambda i: _open(server, routes[i % 2]), range(50)))
    try:
        server.signal(signal.SIGINT)
        deadline = time.monotonic() + STREAMS_END_TIMEOUT
        ended = [_read_until_end(sock, received, deadline) for sock, received in streams]
        cut = [received[-80:] for received in ended if not received.endswith(_END_OF_BODY)]
        assert not cut, f"{len(cut)} of 50 streams did not end cleanly within {STREAMS_END_TIMEOUT}s: {cut[:3]}"
        assert server.wait(timeout=EXIT_TIMEOUT) == 130
    finally:
        for sock, _ in streams:
            sock.close()
    assert "Traceback" not in server.logs(), server.logs()[-3000:]
