"""Start-to-healthy of bare `opencode serve` vs `openwork serve` on the same workspace and binary.

Run: .venv/bin/python bench/startup.py [--rounds N] [--cache]
Prints the median of each, their ratio, the absolute overhead (median of the paired per-round differences;
guard <= 150 ms), and the idle RSS of the openwork process
alone (children excluded; target <= 80 MB). Rounds alternate so drift affects both sides alike.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from _common import free_port, isolated_env, stop
from openwork.config import default_data_dir
from openwork.constants import DEFAULT_START_PROBE_TIMEOUT
from openwork.sidecars.resolver import Resolver, SidecarSettings

DEADLINE = 60.0  # per start


def bare(binary: Path, workspace: Path, env: dict[str, str]) -> float:
    port = free_port()
    password = secrets.token_urlsafe(16)
    env = {**env, "OPENCODE_SERVER_USERNAME": "bench", "OPENCODE_SERVER_PASSWORD": password}
    # The client exists before the clock starts: building one loads a CA bundle (15-35 ms), which is
    # not opencode's start-up time.
    client = httpx.Client(timeout=DEFAULT_START_PROBE_TIMEOUT, auth=("bench", password))
    began = time.perf_counter()
    proc = subprocess.Popen([str(binary), "serve", "--hostname", "127.0.0.1", "--port", str(port)],
                            cwd=workspace, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        # The best a client can do: wait for opencode's "listening" line, then probe. (A request that
        # reaches opencode just before that line is never answered, so earlier probes only risk a hang.)
        assert proc.stdout is not None
        for raw in proc.stdout:
            if b"listening" in raw:
                break
        with client:
            while time.perf_counter() - began < DEADLINE:
                try:
                    if client.get(f"http://127.0.0.1:{port}/global/health").status_code == 200:
                        return time.perf_counter() - began
                except httpx.HTTPError:
                    pass
                time.sleep(0.01)
        raise SystemExit("bare opencode did not become healthy")
    finally:
        stop(proc)


def openwork(binary: Path, workspace: Path, env: dict[str, str], data: Path, rss: list[float], cache: bool) -> float:
    env = {**env, "OPENWORK_DATA_DIR": str(data)}
    # external: the same file as bare opencode, run as is. cache: the default source, the verified cache,
    # whose binary is re-hashed on every start before it runs (the same file: it is the cached one).
    source = (["--sidecar-dir", str(binary.parents[3])] if cache
              else ["--allow-external", "--opencode-bin", str(binary)])
    began = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "openwork", "serve", "--json", "--port", "0", "--workspace", str(workspace), *source],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # printed once opencode answers its health check
        elapsed = time.perf_counter() - began
        if not line:
            raise SystemExit("openwork serve exited before it was ready")
        json.loads(line)
        time.sleep(2.0)  # idle
        rss.append(psutil.Process(proc.pid).memory_info().rss / 1e6)
        return elapsed
    finally:
        stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cache", action="store_true",
                        help="ours resolves opencode from the verified cache (the default source) instead of "
                             "--opencode-bin: every start re-hashes the binary first")
    args = parser.parse_args()
    binary = Resolver(SidecarSettings(sidecar_dir=default_data_dir() / "sidecars")).resolve("opencode").path
    with tempfile.TemporaryDirectory(prefix="openwork-bench-") as tmp:
        root = Path(tmp)
        workspace = root / "workspace"
        workspace.mkdir()
        env = isolated_env(root / "home")
        bare_times: list[float] = []
        ours: list[float] = []
        rss: list[float] = []
        bare(binary, workspace, env)  # warm the page cache for both sides
        for i in range(args.rounds):
            bare_times.append(bare(binary, workspace, env))
            ours.append(openwork(binary, workspace, env, root / f"data{i}", rss, args.cache))
            print(f"round {i + 1}: opencode {bare_times[-1]:.3f}s  openwork {ours[-1]:.3f}s  rss {rss[-1]:.1f} MB",
                  flush=True)
    b, o = statistics.median(bare_times), statistics.median(ours)
    # Paired: each round's openwork start minus the bare start just before it (drift affects both alike).
    overhead = statistics.median(ours_t - bare_t for ours_t, bare_t in zip(ours, bare_times, strict=True))
    print(f"\nmedian start-to-healthy: bare opencode {b:.3f}s, openwork serve {o:.3f}s, ratio {o / b:.3f}")
    print(f"overhead over bare opencode: median of the paired differences {overhead * 1000:.0f} ms "
          f"(guard <= 150 ms)")
    print(f"idle RSS of the openwork process (children excluded): median {statistics.median(rss):.1f} MB "
          f"(target <= 80 MB)")


if __name__ == "__main__":
    main()
