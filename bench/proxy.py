"""The opencode proxy against opencode itself, in one run, alternating.

Run: .venv/bin/python bench/proxy.py [--requests 500]
Starts `openwork serve` (the proxy side, with its own opencode) and a bare `opencode serve` with known
credentials (the direct side) on the same binary and an equal workspace. Then, alternating in blocks of 50:
keep-alive `GET /session` and `GET /file/content?path=...`, median and p90 each way; time to the first SSE event
of `/event` each way (median of 20); and a 20 MiB request body through the proxy with the peak RSS growth
of the openwork process (sampled every 5 ms): a streamed operation (a terminal's input, `PUT /pty/{id}`) and
a prompt (`POST /session/{id}/message`, buffered: its parts are checked for file: URLs).
Guards: proxied p50 <= direct + 3 ms, p90 <= direct + 5 ms; 20 MiB streamed adds <= 8 MiB RSS.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil

from _common import free_port, isolated_env, stop
from openwork.config import default_data_dir
from openwork.sidecars.resolver import Resolver, SidecarSettings

DEADLINE = 60.0
BLOCK = 50
MIB = 1024 * 1024


def _wait_healthy(url: str, auth: httpx.Auth | None, headers: dict[str, str]) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, auth=auth, headers=headers, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"not healthy: {url}")


def _timed(client: httpx.Client, url: str, n: int, params: dict[str, str]) -> list[float]:
    out = []
    for _ in range(n):
        began = time.perf_counter()
        response = client.get(url, params=params)
        response.read()
        out.append(time.perf_counter() - began)
        assert response.status_code == 200, (url, response.status_code, response.text[:200])
    return out


def _first_event(client: httpx.Client, url: str) -> float:
    began = time.perf_counter()
    with client.stream("GET", url, headers={"accept": "text/event-stream"}) as response:
        for _ in response.iter_raw():
            return time.perf_counter() - began
    raise SystemExit(f"no event from {url}")


def _peak_rss_growth(pid: int, work: Callable[[], None]) -> float:
    proc = psutil.Process(pid)
    base = proc.memory_info().rss
    peak = base
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, proc.memory_info().rss)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        work()
    finally:
        done.set()
        sampler.join(5)
    return (peak - base) / MIB


def _pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    binary = Resolver(SidecarSettings(sidecar_dir=default_data_dir() / "sidecars")).resolve("opencode").path
    with tempfile.TemporaryDirectory(prefix="openwork-bench-proxy-") as tmp:
        root = Path(tmp)
        for side in ("direct", "proxied"):
            (root / side).mkdir()
            (root / side / "hello.txt").write_text("hello\n" * 100)
        password = secrets.token_urlsafe(24)
        env_direct = {**isolated_env(root / "home-direct"), "OPENCODE_SERVER_USERNAME": "bench",
                      "OPENCODE_SERVER_PASSWORD": password}
        port = free_port()
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        bare = subprocess.Popen([str(binary), "serve", "--hostname", "127.0.0.1", "--port", str(port)],
                                cwd=root / "direct", env=env_direct, **quiet)
        ours = subprocess.Popen(
            [sys.executable, "-m", "openwork", "serve", "--json", "--port", "0", "--opencode-port", "0",
             "--workspace", str(root / "proxied"), "--allow-external", "--opencode-bin", str(binary),
             "--approval", "auto", "--no-opencode-hot-reload", "--data-dir", str(root / "data")],
            env=isolated_env(root / "home-proxied"), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            assert ours.stdout is not None
            info = json.loads(ours.stdout.readline())
            direct_base = f"http://127.0.0.1:{port}"
            auth = httpx.BasicAuth("bench", password)
            _wait_healthy(direct_base + "/global/health", auth, {})
            token = {"authorization": f"Bearer {info['clientToken']}"}
            with httpx.Client(base_url=info["openworkUrl"], headers=token, timeout=30) as setup:
                ws_id = setup.get("/workspaces").json()["data"]["items"][0]["id"]
            proxy_base = f"{info['openworkUrl']}/workspaces/{ws_id}/opencode"
            direct = httpx.Client(base_url=direct_base, auth=auth, timeout=30)
            proxied = httpx.Client(base_url=proxy_base, headers=token, timeout=30)
            results: dict[str, dict[str, list[float]]] = {}
            here = {"direct": {"directory": str(root / "direct")}, "proxied": {}}
            for name, path, query in (
                ("GET /session", "/session", {}),
                ("GET /file/content", "/file/content", {"path": "hello.txt"}),
            ):
                _timed(direct, path, 20, {**here["direct"], **query})  # warm both: connections, caches
                _timed(proxied, path, 20, query)
                times: dict[str, list[float]] = {"direct": [], "proxied": []}
                for _ in range(max(1, args.requests // BLOCK)):
                    times["direct"] += _timed(direct, path, BLOCK, {**here["direct"], **query})
                    times["proxied"] += _timed(proxied, path, BLOCK, query)
                results[name] = times
            first: dict[str, list[float]] = {"direct": [], "proxied": []}
            for _ in range(20):
                first["direct"].append(_first_event(direct, f"/event?directory={root / 'direct'}"))
                first["proxied"].append(_first_event(proxied, "/event"))
            big = b"x" * (20 * MIB)
            session = proxied.post("/session", json={}).json()["id"]
            streamed = _peak_rss_growth(ours.pid, lambda: proxied.put("/pty/pty_none", content=big))
            prompt = json.dumps({"parts": [{"type": "text", "text": "x" * (20 * MIB)}], "noReply": True}).encode()
            buffered = _peak_rss_growth(
                ours.pid, lambda: proxied.post(f"/session/{session}/message", content=prompt, timeout=120)
            )
            print(f"{'request':<22}{'direct p50':>12}{'proxied p50':>13}{'direct p90':>12}{'proxied p90':>13}")
            for name, times in results.items():
                d50, p50 = _pct(times["direct"], 0.5), _pct(times["proxied"], 0.5)
                d90, p90 = _pct(times["direct"], 0.9), _pct(times["proxied"], 0.9)
                print(f"{name:<22}{d50:>10.2f}ms{p50:>11.2f}ms{d90:>10.2f}ms{p90:>11.2f}ms"
                      f"   (+{p50 - d50:.2f} / +{p90 - d90:.2f} ms; guards +3 / +5)")
            fd, fp = statistics.median(first["direct"]) * 1000, statistics.median(first["proxied"]) * 1000
            print(f"first SSE event of /event, median of 20: direct {fd:.2f} ms, proxied {fp:.2f} ms")
            print(f"20 MiB body, peak RSS growth of openwork: streamed (PUT /pty) {streamed:.1f} MiB (guard <= 8); "
                  f"prompt (buffered for its file: URLs) {buffered:.1f} MiB")
            direct.close()
            proxied.close()
        finally:
            for proc in (ours, bare):
                stop(proc)


if __name__ == "__main__":
    main()
