"""Event streams under abuse: many short connections, a slow reader, shutdown with streams open."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from openwork.constants import DEFAULT_SSE_QUEUE
from openwork.runtime.events import EventBus
from tests.helpers import ServerProcess, wait_for

pytestmark = pytest.mark.anyio


def _open_stream(url: str, token: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    request = (
        f"GET /system/events HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
        "Accept: text/event-stream\r\n\r\n"
    )
    sock.sendall(request.encode())
    assert b"200 OK" in sock.recv(4096)
    return sock


def test_a_hundred_stream_cycles_leak_nothing(real_server: Callable[..., ServerProcess]) -> None:
    server = real_server("--no-opencode-hot-reload")
    proc = psutil.Process(server.info["pids"]["server"])
    token = server.info["clientToken"]
    port = int(server.url.rsplit(":", 1)[1])

    def no_stream_connections() -> bool:
        # The server's side of every accepted connection has our port as its local port.
        return not any(
            c.laddr and c.laddr.port == port and c.status != psutil.CONN_LISTEN for c in proc.net_connections()
        )

    for _ in range(10):  # warm up pools and lazy imports before measuring
        _open_stream(server.url, token).close()
    wait_for(no_stream_connections, timeout=10, what="the warm-up streams to be closed by the server")
    fds_before, threads_before = proc.num_fds(), proc.num_threads()
    for _ in range(100):
        _open_stream(server.url, token).close()
    wait_for(no_stream_connections, timeout=10, what="the streams to be closed by the server")
    wait_for(lambda: proc.num_fds() <= fds_before + 2, timeout=10, what=f"fds back to about {fds_before}")
    assert proc.num_threads() <= threads_before + 2


def _read_to_eof(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_shutdown_with_open_streams_is_quick(real_server: Callable[..., ServerProcess]) -> None:
    server = real_server("--no-opencode-hot-reload")
    streams = [_open_stream(server.url, server.info["clientToken"]) for _ in range(5)]
    try:
        server.signal(signal.SIGTERM)
        # Each stream is ended by the server as the stop begins, with a clean end of body (the final
        # chunk): had the stop waited for the streams, they would have been cut off by the graceful
        # shutdown timeout instead, without one. No clock is read: the order of events is the proof.
        for sock in streams:
            assert _read_to_eof(sock).endswith(b"0\r\n\r\n")  # the last chunk: empty
        assert server.wait(timeout=30) == 143  # a generous deadline for a hang, not a measurement
    finally:
        for sock in streams:
            sock.close()


async def test_a_slow_subscriber_does_not_delay_the_others() -> None:
    bus = EventBus()
    slow = bus.subscribe()  # never reads
    fast = bus.subscribe()
    published, received = [], []
    for i in range(2000):  # far past the slow queue's capacity
        published.append(bus.publish("tick", {"i": i}).id)  # synchronous: it cannot wait on a reader
        event = await fast.get(timeout=10)  # a deadline for a failure, not a measurement
        assert event is not None
        received.append(event.id)
    # The fast one got every event, in order, each before the next was published: none waited behind
    # the slow one, whose queue stays full.
    assert received == published and fast.dropped == 0
    assert slow.dropped == 2000 - DEFAULT_SSE_QUEUE  # it lost its oldest events instead of holding anyone up
    bus.close()


def test_killed_mid_write_leaves_a_consistent_database(tmp_path: Path) -> None:
    import sqlite3
    import subprocess
    import sys

    db = tmp_path / "openwork.db"
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys; from pathlib import Path; from openwork.store.db import Database;"
                "from openwork.workspaces.registry import WorkspaceRegistry;"
                "import tempfile, os;"
                "r = WorkspaceRegistry(Database(Path(sys.argv[1])));"
                "base = Path(tempfile.mkdtemp());"
                "i = 0\n"
                "while True:\n"
                "    d = base / str(i); d.mkdir(); r.add(d); i += 1\n"
            ),
            str(db),
        ],
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=5) as conn:
                    if conn.execute("SELECT count(*) FROM workspaces").fetchone()[0] > 200:
                        break
            except sqlite3.Error:
                pass
        time.sleep(0.05)
    writer.send_signal(signal.SIGKILL)
    writer.wait(10)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        count = conn.execute("SELECT count(*) FROM workspaces").fetchone()[0]
    assert count > 200
    # Reopening through our layer works and sees every committed row.
    from openwork.store.db import Database
    from openwork.workspaces.registry import WorkspaceRegistry

    assert len(WorkspaceRegistry(Database(db)).list()) == count
