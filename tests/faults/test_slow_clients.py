"""Connections that never finish their first request are closed at a deadline (and leave nothing behind)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
import uvicorn

from openwork.lifecycle.httplimits import FIRST_REQUEST_TIMEOUT
from tests.helpers import ServerProcess, wait_for

SLOW_CLIENTS = 300


def test_the_deadline_subclass_is_reviewed_against_this_uvicorn() -> None:
    # FirstRequestDeadline extends uvicorn's H11Protocol (connection_made, connection_lost, cycle): a new
    # uvicorn must be checked against it before the pin in constraints.txt moves.
    pinned = next(
        line.split("==")[1].strip()
        for line in (Path(__file__).parents[2] / "constraints.txt").read_text().splitlines()
        if line.startswith("uvicorn==")
    )
    assert uvicorn.__version__ == pinned


def _closed_by_server(s: socket.socket) -> bool:
    try:
        return s.recv(1024) == b""
    except ConnectionResetError:
        return True


def test_partial_headers_are_cut_off_at_the_first_request_deadline(real_server: Callable[..., ServerProcess]) -> None:
    server = real_server()
    host, port = server.url.removeprefix("http://").split(":")
    assert server.proc is not None
    proc = psutil.Process(server.proc.pid)
    baseline = proc.num_fds()
    clients = []
    try:
        for _ in range(SLOW_CLIENTS):
            s = socket.create_connection((host, int(port)), timeout=5)
            s.sendall(b"GET /system/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # never finished
            clients.append(s)
        started = time.monotonic()
        # Meanwhile a well-behaved client is served at once.
        assert httpx.get(f"{server.url}/system/health", timeout=5).status_code == 200
        for s in clients:
            s.settimeout(FIRST_REQUEST_TIMEOUT + 10)
            assert _closed_by_server(s)
        # Kept on purpose: the behaviour under test IS a deadline (each connection cut off FIRST_REQUEST_TIMEOUT
        # after it connected), so it is bounded; the 10 s past it are room for a loaded machine's late close.
        assert time.monotonic() - started < FIRST_REQUEST_TIMEOUT + 10
    finally:
        for s in clients:
            s.close()
    wait_for(lambda: proc.num_fds() <= baseline + 2, timeout=10, what="the server's fds back at the baseline")
