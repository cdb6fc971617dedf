"""The opencode proxy against opencode itself, in one run, alternating.

Run: .venv/bin/python bench/proxy.py [--requests 500]
Starts `openwork daemon run` with a caller-chosen opencode login (OPENWORK_OPENCODE_USERNAME/PASSWORD
behind OPENWORK_INTERNAL_ALLOW_OPENCODE_CREDENTIALS=1, as the desktop app does), so the direct side is the
very opencode behind the proxy, asked for the same workspace (`?directory=`): the same process, state and
configuration both ways. Then, alternating in blocks of 50: keep-alive `GET /session`,
`GET /file/content?path=...` and `GET /file?path=.`, median and p90 each way; time to the first SSE event of
`/event` each way (median of 20); and a 20 MiB request body through the proxy with the peak RSS growth
of the openwork process (sampled every 5 ms): a streamed operation (a terminal's input, `PUT /pty/{id}`) and
a prompt (`POST /session/{id}/message`, buffered: its parts are checked for file: URLs).
Also the openwork process's own CPU time per proxied request (what the proxy costs, apart from opencode), and
a third side as the floor: bench/_floor_proxy.py, uvicorn + httpx forwarding to the same opencode with
nothing else (no auth, routing, policy), which is what any proxy on this stack pays.
Guards: proxied p50 <= direct + 3 ms, p90 <= direct + 5 ms; 20 MiB streamed adds <= 8 MiB RSS.
"""

from __future__ import annotations

import argparse
import json
import os
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

from _common import isolated_env, stop
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


def _cpu(proc: psutil.Process | None) -> float:
    if proc is None:
        return 0.0
    times = proc.cpu_times()
    return times.user + times.system


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
        workspace = root / "workspace"
        workspace.mkdir()
        (workspace / "hello.txt").write_text("hello\n" * 100)
        password = secrets.token_urlsafe(24)
        env = {**isolated_env(root / "home"), "OPENWORK_OPENCODE_USERNAME": "bench",
               "OPENWORK_OPENCODE_PASSWORD": password, "OPENWORK_INTERNAL_ALLOW_OPENCODE_CREDENTIALS": "1"}
        ours = subprocess.Popen(
            [sys.executable, "-m", "openwork", "daemon", "run", "--json", "--port", "0", "--opencode-port", "0",
             "--workspace", str(workspace), "--allow-external", "--opencode-bin", str(binary),
             "--approval", "auto", "--no-opencode-hot-reload", "--data-dir", str(root / "data")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        floor: subprocess.Popen[str] | None = None
        try:
            assert ours.stdout is not None
            info = json.loads(ours.stdout.readline())
            direct_base = info["opencodeUrl"]
            auth = httpx.BasicAuth("bench", password)
            _wait_healthy(direct_base + "/global/health", auth, {})
            token = {"authorization": f"Bearer {info['clientToken']}"}
            with httpx.Client(base_url=info["openworkUrl"], headers=token, timeout=30) as setup:
                ws_id = setup.get("/workspaces").json()["data"]["items"][0]["id"]
            proxy_base = f"{info['openworkUrl']}/workspaces/{ws_id}/opencode"
            floor = subprocess.Popen(
                [sys.executable, str(Path(__file__).with_name("_floor_proxy.py"))],
                env={**os.environ, "UPSTREAM": direct_base, "UPSTREAM_USER": "bench", "UPSTREAM_PASSWORD": password},
                stdout=subprocess.PIPE, text=True)
            assert floor.stdout is not None
            floor_port = floor.stdout.readline().strip()
            if not floor_port.isdigit():
                raise SystemExit("bench/_floor_proxy.py did not start")
            floor_base = f"http://127.0.0.1:{floor_port}"
            direct = httpx.Client(base_url=direct_base, auth=auth, timeout=30)
            proxied = httpx.Client(base_url=proxy_base, headers=token, timeout=30)
            floored = httpx.Client(base_url=floor_base, timeout=30)
            # side: (client, query it adds, the forwarding process whose CPU time is counted)
            sides: dict[str, tuple[httpx.Client, dict[str, str], psutil.Process | None]] = {
                "direct": (direct, {"directory": str(workspace)}, None),
                "floor": (floored, {"directory": str(workspace)}, psutil.Process(floor.pid)),
                "proxied": (proxied, {}, psutil.Process(ours.pid)),
            }
            results: dict[str, dict[str, list[float]]] = {}
            cpu_per_request: dict[str, dict[str, float]] = {}
            for name, path, query in (
                ("GET /session", "/session", {}),
                ("GET /file/content", "/file/content", {"path": "hello.txt"}),
                ("GET /file (list)", "/file", {"path": "."}),
            ):
                for client, extra, _ in sides.values():
                    _timed(client, path, 20, {**extra, **query})  # warm every side: connections, caches
                times: dict[str, list[float]] = {side: [] for side in sides}
                cpu = dict.fromkeys(sides, 0.0)
                order = list(sides)
                for _ in range(max(1, args.requests // BLOCK)):
                    order = order[1:] + order[:1]  # each side goes first in turn: no order bias
                    for side in order:
                        client, extra, proc = sides[side]
                        before = _cpu(proc)
                        times[side] += _timed(client, path, BLOCK, {**extra, **query})
                        cpu[side] += _cpu(proc) - before
                results[name] = times
                cpu_per_request[name] = {side: cpu[side] / len(times[side]) for side in sides}
            first: dict[str, list[float]] = {"direct": [], "proxied": []}
            for _ in range(20):
                first["direct"].append(_first_event(direct, f"/event?directory={workspace}"))
                first["proxied"].append(_first_event(proxied, "/event"))
            big = b"x" * (20 * MIB)
            session = proxied.post("/session", json={}).json()["id"]
            streamed = _peak_rss_growth(ours.pid, lambda: proxied.put("/pty/pty_none", content=big))
            prompt = json.dumps({"parts": [{"type": "text", "text": "x" * (20 * MIB)}], "noReply": True}).encode()
            buffered = _peak_rss_growth(
                ours.pid, lambda: proxied.post(f"/session/{session}/message", content=prompt, timeout=120)
            )
            print(f"{'request':<20}{'side':<9}{'p50':>9}{'p90':>9}{'+p50':>8}{'+p90':>8}{'CPU/request':>13}")
            for name, times in results.items():
                d50, d90 = _pct(times["direct"], 0.5), _pct(times["direct"], 0.9)
                for side in sides:
                    p50, p90 = _pct(times[side], 0.5), _pct(times[side], 0.9)
                    used = f"{cpu_per_request[name][side] * 1000:.2f} ms" if side != "direct" else ""
                    print(f"{name:<20}{side:<9}{p50:>7.2f}ms{p90:>7.2f}ms"
                          f"{p50 - d50:>+8.2f}{p90 - d90:>+8.2f}{used:>13}")
            print("guards for proxied: +p50 <= +3 ms, +p90 <= +5 ms. floor: uvicorn + httpx forwarding with nothing "
                  "else (bench/_floor_proxy.py)")
            fd, fp = statistics.median(first["direct"]) * 1000, statistics.median(first["proxied"]) * 1000
            print(f"first SSE event of /event, median of 20: direct {fd:.2f} ms, proxied {fp:.2f} ms")
            print(f"20 MiB body, peak RSS growth of openwork: streamed (PUT /pty) {streamed:.1f} MiB (guard <= 8); "
                  f"prompt (buffered for its file: URLs) {buffered:.1f} MiB")
            for client, _, _ in sides.values():
                client.close()
        finally:
            for proc in (floor, ours):
                if proc is not None:
                    stop(proc)


if __name__ == "__main__":
    main()
