"""Large request bodies against a real `openwork serve --approval auto` (issue 16, finding 3).

Run: .venv/bin/python bench/bodies.py
Prints, each with the server's RSS growth (sampled every 20 ms) and the slowest `/system/health` answer
(polled every 50 ms by another connection) while it runs:
  1. 12 connections without a token, each sending a 47 MiB body to /nonexistent/write-batch;
  2. one valid 47 MiB write batch (32 MiB of files) with the client token;
  3. four such batches at once, each with its own minted token (the server-wide bound);
  4. four at once with the same token (the per-caller bound).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil

from _common import isolated_env
from openwork.config import default_data_dir
from openwork.sidecars.resolver import Resolver, SidecarSettings

MiB = 1024 * 1024


class Watch:
    """Peak RSS of ``pid`` and the slowest health answer while the block runs."""

    def __init__(self, pid: int, url: str) -> None:
        self.proc, self.url = psutil.Process(pid), url
        self.stop = threading.Event()
        self.base = self.peak = self.proc.memory_info().rss
        self.health_max = 0.0

    def _rss(self) -> None:
        while not self.stop.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def _health(self) -> None:
        with httpx.Client(base_url=self.url, timeout=60, trust_env=False) as client:
            while not self.stop.wait(0.05):
                began = time.perf_counter()
                client.get("/system/health")
                self.health_max = max(self.health_max, time.perf_counter() - began)

    def run(self, what: str, work: Callable[[], str]) -> None:
        threads = [threading.Thread(target=self._rss), threading.Thread(target=self._health)]
        for t in threads:
            t.start()
        began = time.perf_counter()
        try:
            result = work()
        finally:
            self.stop.set()
            for t in threads:
                t.join()
        print(
            f"{what}: {time.perf_counter() - began:.2f} s, {result}; RSS +{(self.peak - self.base) / 1e6:.0f} MB "
            f"(peak {self.peak / 1e6:.0f} MB), slowest health {self.health_max * 1000:.0f} ms",
            flush=True,
        )


def unauthenticated(url: str, count: int, size: int) -> str:
    host, port = url.removeprefix("http://").split(":")
    statuses: list[str] = []

    def one() -> None:
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(
                f"POST /nonexistent/write-batch HTTP/1.1\r\nHost: {host}\r\nContent-Length: {size}\r\n\r\n".encode()
            )
            chunk, sent = b"x" * MiB, 0
            try:
                while sent < size:
                    sent += sock.send(chunk)
            except OSError:
                pass  # the server answered and closed
            try:
                statuses.append(sock.recv(64).split(b"\r\n")[0].decode())
            except OSError as exc:
                statuses.append(f"{type(exc).__name__} after {sent // MiB} MiB sent")

    threads = [threading.Thread(target=one) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ", ".join(sorted(set(statuses)))


def batches(url: str, base: str, tokens: list[str], body: bytes) -> str:
    statuses: list[int] = []

    def one(token: str) -> None:
        headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
        with httpx.Client(base_url=url, headers=headers, timeout=120, trust_env=False) as client:
            statuses.append(client.post(f"{base}/write-batch", content=body).status_code)

    threads = [threading.Thread(target=one, args=(t,)) for t in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return "statuses " + ", ".join(str(s) for s in sorted(statuses))


def main() -> None:
    binary = Resolver(SidecarSettings(sidecar_dir=default_data_dir() / "sidecars")).resolve("opencode").path
    with tempfile.TemporaryDirectory(prefix="openwork-bench-") as tmp:
        root = Path(tmp)
        ws = root / "ws"
        ws.mkdir()
        env = isolated_env(root / "home") | {"OPENWORK_DATA_DIR": str(root / "data")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "openwork", "serve", "--json", "--port", "0", "--workspace", str(ws),
             "--approval", "auto", "--no-opencode-hot-reload", "--allow-external", "--opencode-bin", str(binary)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            run(json.loads(proc.stdout.readline()), proc.pid)
        finally:
            proc.terminate()
            proc.wait(30)


def run(info: dict[str, Any], pid: int) -> None:
    url, client_token, host_token = info["openworkUrl"], info["clientToken"], info["hostToken"]
    with httpx.Client(base_url=url, timeout=60, trust_env=False) as client:
        auth = {"authorization": f"Bearer {client_token}"}
        ws_id = client.get("/workspaces", headers=auth).json()["data"]["items"][0]["id"]
        minted = [
            client.post(
                "/tokens", json={"scope": "owner", "label": f"b{i}"}, headers={"x-openwork-host-token": host_token}
            ).json()["data"]["token"]
            for i in range(4)
        ]
    content = base64.b64encode(os.urandom(4 * MiB)).decode()  # 8 files of 4 MiB: 32 MiB, the batch maximum
    body = json.dumps({"writes": [{"path": f"big/f{i}.bin", "contentBase64": content} for i in range(8)]}).encode()
    # A session per token: a session belongs to the token that opened it.
    bases: dict[str, str] = {}
    for token in [client_token, *minted]:
        with httpx.Client(base_url=url, headers={"authorization": f"Bearer {token}"}, timeout=60, trust_env=False) as c:
            sid = c.post(f"/workspaces/{ws_id}/file-sessions", json={"write": True}).json()["data"]["session"]["id"]
            bases[token] = f"/workspaces/{ws_id}/file-sessions/{sid}"
    print(f"body {len(body) / MiB:.1f} MiB", flush=True)
    Watch(pid, url).run("12 x 47 MiB without a token", lambda: unauthenticated(url, 12, 47 * MiB))
    Watch(pid, url).run("1 valid batch", lambda: batches(url, bases[client_token], [client_token], body))

    def four_tokens() -> str:
        statuses: list[str] = []
        threads = [
            threading.Thread(target=lambda t=t: statuses.append(batches(url, bases[t], [t], body))) for t in minted
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return "; ".join(statuses)

    Watch(pid, url).run("4 valid batches, 4 tokens", four_tokens)
    Watch(pid, url).run("4 valid batches, 1 token", lambda: batches(url, bases[client_token], [client_token] * 4, body))


if __name__ == "__main__":
    main()
