"""A bounded soak (issue 16): thousands of file-session requests, SSE subscribers that come and go and
connections that never finish their headers leave the server's fds, threads, memory and connections to
opencode where they were.

This is a soak, kept short enough for the normal suite (70-90 s on a busy 2-vCPU machine, most of it the
soak itself; `pytest -s` prints the figures). It runs a real ``openwork serve --approval auto`` on the real
opencode and watches the server process from outside. (No ``soak`` marker: pyproject declares only ``e2e``.)
"""

from __future__ import annotations

import base64
import os
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import psutil
import pytest

from openwork.lifecycle.httplimits import FIRST_REQUEST_TIMEOUT
from tests.helpers import ServerProcess, wait_for

pytestmark = pytest.mark.e2e

WARM_UP_REQUESTS = 200  # before the baseline: the route tables, the workspace's watcher, the worker pools
FILE_REQUESTS = 2_000
SSE_CYCLES = 500  # subscribe, read the first frame, leave; both SSE routes in turn
SLOW_CLIENTS = 300  # connections that send part of a request line and headers, then nothing
FILE_CLIENTS = 4  # concurrent file-session clients; with the SSE clients, enough churn for 2 cores
SSE_CLIENTS = 4
REQUEST_TIMEOUT = 10.0  # one request or one stream's first frame, on a machine loaded by other test runs
HEALTH_INTERVAL = 0.2  # /system/health is polled this often while the soak runs
SLOW_CLOSE_MARGIN = 10.0  # past FIRST_REQUEST_TIMEOUT, for the server to close the last slow connection
SAMPLE_INTERVAL = 0.2
BASELINE_STABLE_SAMPLES = 5  # identical fds/threads/upstream this many samples in a row: the baseline
BASELINE_TIMEOUT = 15.0
# anyio's worker threads (FastAPI runs sync dependencies on them) are pruned only when a later call finds
# them idle for 10 s, so the figures can settle only some seconds after the soak ends.
SETTLE_TIMEOUT = 40.0
# The measuring client's connection to us is open in the baseline and the final figures alike; the slack
# is for connections caught closing, and for the supervisor's own health probe of opencode.
FD_SLACK = 2
UPSTREAM_SLACK = 2
# asyncio's default executor (asyncio.to_thread) grows up to min(32, cores + 4) threads and never shrinks,
# and the soak may take it further than the warm-up did. The baseline holds at least one of them (the
# health route uses it) and at least the one anyio worker the probe uses; once anyio has pruned its idle
# workers the final figure holds about that one again, so the pool's growth is the whole slack needed.
THREAD_SLACK = min(32, (os.cpu_count() or 1) + 4)
RSS_TOLERANCE = 0.10

_BAD_PATHS = ["../x", "/etc/passwd", "a/../../x", "a\x00b", "x" * 2000]


@dataclass(frozen=True, slots=True)
class Usage:
    fds: int
    threads: int
    rss: int
    upstream: int  # ESTABLISHED connections to opencode's port

    def figures(self) -> tuple[int, int, int]:
        """What must be steady for a baseline (RSS moves by pages all the time)."""
        return self.fds, self.threads, self.upstream

    def peak(self, other: Usage) -> Usage:
        return Usage(*(max(a, b) for a, b in zip(self.as_tuple(), other.as_tuple(), strict=True)))

    def as_tuple(self) -> tuple[int, int, int, int]:
        return self.fds, self.threads, self.rss, self.upstream

    def __str__(self) -> str:
        return f"fds={self.fds} threads={self.threads} rss={self.rss / 2**20:.1f}MiB upstream={self.upstream}"


def _usage(proc: psutil.Process, opencode_port: int) -> Usage:
    upstream = sum(
        1
        for c in proc.net_connections("tcp")
        if c.status == psutil.CONN_ESTABLISHED and c.raddr and c.raddr[1] == opencode_port
    )
    return Usage(proc.num_fds(), proc.num_threads(), proc.memory_info().rss, upstream)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class _FileClient:
    """One client of the soak: its own connection, its own write session and folder."""

    def __init__(self, server: ServerProcess, ws_id: str, name: str) -> None:
        self.http = server.client()
        self.http.timeout = httpx.Timeout(REQUEST_TIMEOUT)
        self.ws_id = ws_id
        self.folder = f"soak/{name}"
        self.sid = ""  # set by open()
        self.pending: str | None = None  # a session opened by the open_session step, closed by the next one

    def open(self) -> _FileClient:
        self.sid = self._create()
        return self

    @property
    def sessions(self) -> str:
        return f"/workspaces/{self.ws_id}/file-sessions"

    def _create(self) -> str:
        r = self.http.post(self.sessions, json={"write": True, "ttlSeconds": 300})
        assert r.status_code == 201, r.text
        return str(r.json()["data"]["session"]["id"])

    def _post(self, step: str, body: Any, status: int) -> list[dict[str, Any]]:
        r = self.http.post(f"{self.sessions}/{self.sid}/{step}", json=body)
        assert r.status_code == status, (step, r.status_code, r.text[:300])
        return list(r.json()["data"]["items"]) if status == 200 else []

    # Each step is one request; about half of them are refused, whole or per item.
    def write(self, i: int) -> None:
        items = self._post(
            "write-batch",
            {"writes": [{"path": f"{self.folder}/f{i % 16}.txt", "contentBase64": _b64(f"soak {i}\n" * (i % 50))}]},
            200,
        )
        assert [x["ok"] for x in items] == [True], items

    def read(self, i: int) -> None:
        items = self._post("read-batch", {"paths": ["README.md", f"{self.folder}/f{i % 16}.txt"]}, 200)
        # A file is missing until this client's write step has made it.
        assert items[0]["ok"] and (items[1]["ok"] or items[1]["error"]["code"] == "not_found"), items

    def read_bad(self, i: int) -> None:
        paths = [_BAD_PATHS[i % len(_BAD_PATHS)], "soak", f"{self.folder}/missing-{i}.txt"]  # hostile, folder, none
        items = self._post("read-batch", {"paths": paths}, 200)
        assert [x["ok"] for x in items] == [False, False, False], items

    def write_bad_base64(self, i: int) -> None:
        items = self._post("write-batch", {"writes": [{"path": f"{self.folder}/b.txt", "contentBase64": "!!%"}]}, 200)
        assert items[0]["error"]["code"] == "invalid_request", items

    def operations(self, i: int) -> None:
        folder = f"{self.folder}/d{i % 4}"
        ops = [
            {"type": "mkdir", "path": folder},
            {"type": "delete", "path": folder},
            {"type": "delete", "path": "../outside"},
            {"type": "rename", "path": f"{self.folder}/missing", "to": f"{self.folder}/x"},
        ]
        items = self._post("operations", {"operations": ops}, 200)
        assert [x["ok"] for x in items] == [True, True, False, False], items

    def catalog(self, i: int) -> None:
        r = self.http.get(f"{self.sessions}/{self.sid}/catalog/snapshot", params={"limit": 50})
        assert r.status_code == 200, r.text

    def too_many_paths(self, i: int) -> None:
        self._post("read-batch", {"paths": ["README.md"] * 1001}, 400)  # over the service's cap of 1,000

    def too_many_items(self, i: int) -> None:
        self._post("read-batch", {"paths": ["a"] * 10_001}, 422)  # over the body model's bound

    def unknown_session(self, i: int) -> None:
        r = self.http.post(f"{self.sessions}/fs_{i:024x}/read-batch", json={"paths": ["README.md"]})
        assert r.status_code == 404, r.text

    def malformed_body(self, i: int) -> None:
        r = self.http.post(
            f"{self.sessions}/{self.sid}/write-batch",
            content=b'{"writes": [',
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 422, r.text

    def no_token(self, i: int) -> None:
        r = self.http.post(
            f"{self.sessions}/{self.sid}/read-batch", json={"paths": ["a"]}, headers={"authorization": ""}
        )
        assert r.status_code == 401, r.text

    def open_session(self, i: int) -> None:
        self.pending = self._create()

    def close_session(self, i: int) -> None:
        sid, self.pending = self.pending, None
        # Nothing pending when a client's share starts here: then an unknown id, refused.
        r = self.http.delete(f"{self.sessions}/{sid or f'fs_{i:024x}'}")
        assert r.status_code == (200 if sid else 404), r.text

    STEPS: tuple[Callable[[_FileClient, int], None], ...] = (
        write,
        read,
        read_bad,
        open_session,
        close_session,
        operations,
        write_bad_base64,
        catalog,
        unknown_session,
        read,
        malformed_body,
        too_many_paths,
        no_token,
        too_many_items,
    )

    def run(self, indices: range) -> None:
        for i in indices:
            self.STEPS[i % len(self.STEPS)](self, i)

    def close(self) -> None:
        try:
            for sid in (self.pending, self.sid):
                if sid:
                    self.http.delete(f"{self.sessions}/{sid}")
        finally:
            self.http.close()


def _mixed_requests(server: ServerProcess, ws_id: str, total: int, tag: str) -> None:
    """``total`` file-session requests (plus the few that open and close each client's session)."""
    share = total // FILE_CLIENTS
    with ExitStack() as stack, ThreadPoolExecutor(max_workers=FILE_CLIENTS) as pool:
        clients = []
        for n in range(FILE_CLIENTS):
            client = _FileClient(server, ws_id, f"{tag}{n}")
            stack.callback(client.close)
            clients.append(client.open())
        done = [pool.submit(c.run, range(n * share, (n + 1) * share)) for n, c in enumerate(clients)]
        for future in done:
            future.result()


def _sse_cycles(server: ServerProcess, ws_id: str, cycles: int) -> None:
    """Subscribe to an SSE route, read its first frame, disconnect; ``cycles`` times over both routes."""
    paths = [f"/workspaces/{ws_id}/events", f"/workspaces/{ws_id}/opencode/event"]

    def subscriber(indices: range) -> None:
        with server.client() as http:
            http.timeout = httpx.Timeout(REQUEST_TIMEOUT)
            for i in indices:
                # Leaving the block before the body ends closes the connection: the client has gone.
                with http.stream("GET", paths[i % 2], headers={"accept": "text/event-stream"}) as stream:
                    assert stream.status_code == 200, stream.read()[:300]
                    first = next(line for line in stream.iter_lines() if line.startswith("data:"))
                    assert "server.connected" in first, first

    share = cycles // SSE_CLIENTS
    with ThreadPoolExecutor(max_workers=SSE_CLIENTS) as pool:
        for future in [pool.submit(subscriber, range(n * share, (n + 1) * share)) for n in range(SSE_CLIENTS)]:
            future.result()


@contextmanager
def _slow_clients(server: ServerProcess) -> Iterator[list[socket.socket]]:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    clients: list[socket.socket] = []
    try:
        for _ in range(SLOW_CLIENTS):
            s = socket.create_connection((host, int(port)), timeout=REQUEST_TIMEOUT)
            s.sendall(b"POST /workspaces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl")  # never finished
            clients.append(s)
        yield clients
    finally:
        for s in clients:
            s.close()


def _wait_closed_by_server(clients: list[socket.socket], deadline: float) -> None:
    """Return when the server has closed every one of ``clients``; fail at ``deadline``."""
    with selectors.DefaultSelector() as selector:
        for s in clients:
            s.setblocking(False)
            selector.register(s, selectors.EVENT_READ)
        while selector.get_map():
            # Past the deadline, one last look at what is already closed (the soak may outlast it).
            ready = selector.select(timeout=max(0.0, deadline - time.monotonic()))
            if not ready and time.monotonic() >= deadline:
                break
            for key, _ in ready:
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(4096)
                except ConnectionResetError:
                    data = b""
                if not data:
                    selector.unregister(sock)
        open_ = len(selector.get_map())
    assert open_ == 0, f"{open_} of {len(clients)} slow connections still open past the first-request deadline"


class _HealthWatch:
    """Polls ``/system/health`` on its own connection and samples the server's peak usage meanwhile."""

    def __init__(self, server: ServerProcess, sample: Callable[[], Usage]) -> None:
        self.server, self.sample = server, sample
        self.failures: list[str] = []
        self.answers = 0
        self.slowest = 0.0
        self.peak = Usage(0, 0, 0, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-health", daemon=True)

    def __enter__(self) -> _HealthWatch:
        self._thread.start()
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=REQUEST_TIMEOUT + 5)
        assert exc_type is not None or not self._thread.is_alive(), "the health watcher did not stop"

    def _run(self) -> None:
        with httpx.Client(base_url=self.server.url, timeout=REQUEST_TIMEOUT, trust_env=False) as http:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    r = http.get("/system/health")
                    if r.status_code != 200:
                        self.failures.append(f"{r.status_code}: {r.text[:200]}")
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                self.answers += 1
                self.slowest = max(self.slowest, time.monotonic() - started)
                self.peak = self.peak.peak(self.sample())
                self._stop.wait(HEALTH_INTERVAL)  # pacing between polls, not a wait for a condition


def test_a_soak_of_requests_streams_and_slow_clients_leaves_resources_at_their_baseline(
    real_server: Callable[..., ServerProcess],
) -> None:
    server = real_server("--approval", "auto")
    assert server.proc is not None
    proc = psutil.Process(server.proc.pid)
    opencode_port = int(server.info["opencodeUrl"].rsplit(":", 1)[1])
    with server.client() as http:
        ws_id = str(http.get("/workspaces").json()["data"]["items"][0]["id"])
    with httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT, trust_env=False) as probe:

        def measure() -> Usage:
            # Through the same probe before every sample: it keeps one connection to us open in both the
            # baseline and the final figures, and its request is what lets anyio prune its idle workers.
            assert probe.get("/system/health").status_code == 200
            return _usage(proc, opencode_port)

        _mixed_requests(server, ws_id, WARM_UP_REQUESTS, "warm")
        samples: list[Usage] = []

        def steady() -> Usage:
            samples.append(measure())
            recent = {u.figures() for u in samples[-BASELINE_STABLE_SAMPLES:]}
            if len(samples) < BASELINE_STABLE_SAMPLES or len(recent) > 1:
                raise AssertionError(f"still moving: {sorted(recent)}")
            return samples[-1]

        baseline = wait_for(steady, timeout=BASELINE_TIMEOUT, interval=SAMPLE_INTERVAL, what="a steady baseline")

        started = time.monotonic()
        with (
            _HealthWatch(server, lambda: _usage(proc, opencode_port)) as health,
            _slow_clients(server) as slow,
            ThreadPoolExecutor(max_workers=2) as pool,
        ):
            slow_opened = time.monotonic()
            files = pool.submit(_mixed_requests, server, ws_id, FILE_REQUESTS, "soak")
            streams = pool.submit(_sse_cycles, server, ws_id, SSE_CYCLES)
            files.result()
            streams.result()
            requests_seconds = time.monotonic() - started
            _wait_closed_by_server(slow, slow_opened + FIRST_REQUEST_TIMEOUT + SLOW_CLOSE_MARGIN)
        soak_seconds = time.monotonic() - started
        assert not health.failures, f"{len(health.failures)} of {health.answers} health polls failed: {health.failures}"

        # Issue 16 takes the final figures "after gc.collect()" in the server, which a test cannot make
        # collect from outside: instead they are polled until back within bounds, with a deadline.
        def back_at_baseline() -> Usage:
            now = measure()
            problems = [
                f"fds {baseline.fds} -> {now.fds}" if now.fds > baseline.fds + FD_SLACK else "",
                f"threads {baseline.threads} -> {now.threads}" if now.threads > baseline.threads + THREAD_SLACK else "",
                f"upstream {baseline.upstream} -> {now.upstream}"
                if now.upstream > baseline.upstream + UPSTREAM_SLACK
                else "",
                f"rss {baseline.rss} -> {now.rss}"
                if abs(now.rss - baseline.rss) > RSS_TOLERANCE * baseline.rss
                else "",
            ]
            if any(problems):
                raise AssertionError("; ".join(p for p in problems if p))
            return now

        final = wait_for(back_at_baseline, timeout=SETTLE_TIMEOUT, interval=SAMPLE_INTERVAL, what="the baseline")
        answer = probe.get("/system/health")
    assert answer.status_code == 200 and answer.json()["data"]["degraded"] == [], answer.text
    assert "Traceback" not in server.logs(), server.logs()[-3000:]
    print(  # the figures docs/benchmarks.md quotes; shown with `pytest -s`
        f"\nsoak {soak_seconds:.1f}s (requests and streams {requests_seconds:.1f}s); baseline {baseline}; "
        f"peak {health.peak}; final {final}; health polls {health.answers}, slowest {health.slowest * 1000:.0f} ms"
    )
