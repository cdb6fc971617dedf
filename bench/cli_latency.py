"""`openwork workspace list --json` against a running daemon holding 1,000 workspaces.

Run: .venv/bin/python bench/cli_latency.py [--rounds N] [--workspaces N]
Prints the median wall time (target <= 150 ms). When bench/.original holds the original orchestrator
(npm package `openwork-orchestrator`, see bench/compare.py), the same command of the original is timed
in the same run, alternating, and the ratio printed; otherwise that column says so.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import isolated_env
from compare import START_DEADLINE, original_cli, shared_opencode, wait_ready
from openwork.config import default_data_dir
from openwork.sidecars.resolver import Resolver, SidecarSettings

TIMEOUT = 60.0


def seed_original(data: Path, folders: list[Path]) -> None:
    """The original keeps its registry in one JSON file, read at start; writing it is what 1,000 of its
    `workspace add` calls would leave behind, in a second instead of minutes."""
    now = int(time.time() * 1000)
    items = [
        {"id": "ws-" + hashlib.sha256(str(f).encode()).hexdigest()[:12], "name": f.name, "path": str(f),
         "workspaceType": "local", "createdAt": now, "lastUsedAt": now}
        for f in folders
    ]
    data.mkdir(parents=True)
    state = {"version": 1, "activeId": items[0]["id"], "workspaces": items}
    (data / "openwork-orchestrator-state.json").write_text(json.dumps(state))


def start_original(root: Path, folders: list[Path]) -> tuple[subprocess.Popen[bytes], list[str], dict[str, str]]:
    data = root / "original-data"
    seed_original(data, folders)
    env = isolated_env(root / "original-home")
    proc = subprocess.Popen(
        [str(original_cli()), "daemon", "run", "--data-dir", str(data), "--opencode-source", "external",
         "--allow-external", "--opencode-bin", str(shared_opencode())],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    if not wait_ready(proc, lambda line: "daemon running on" in line, time.perf_counter() + START_DEADLINE):
        os.killpg(proc.pid, signal.SIGKILL)
        raise SystemExit(f"the original daemon was not ready within {START_DEADLINE:g}s")
    return proc, [str(original_cli()), "workspace", "list", "--data-dir", str(data), "--json"], env


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
        original: subprocess.Popen[bytes] | None = None
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
            if original_cli().exists() and shared_opencode().exists():
                original, original_list, original_env = start_original(
                    root, [folders / f"w{i:04d}" for i in range(args.workspaces)]
                )
                _, out = run(original_list, original_env)
                assert len(json.loads(out)["workspaces"]) == args.workspaces
            ours: list[float] = []
            theirs: list[float] = []
            for _ in range(args.rounds):  # alternating, so drift affects both alike
                ours.append(run([*openwork, "workspace", "list", "--json"], env)[0])
                if original is not None:
                    theirs.append(run(original_list, original_env)[0])
            print("ours: " + " ".join(f"{t * 1000:.0f}" for t in ours))
            if theirs:
                print("original: " + " ".join(f"{t * 1000:.0f}" for t in theirs))
        finally:
            run([*openwork, "daemon", "stop", "--json"], env)
            if original is not None:
                os.killpg(original.pid, signal.SIGTERM)
                original.wait(timeout=30)
    median = statistics.median(ours)
    print(f"openwork workspace list --json with {args.workspaces} workspaces: median {median * 1000:.1f} ms "
          f"(min {min(ours) * 1000:.1f}, max {max(ours) * 1000:.1f}; target <= 150 ms)")
    if theirs:
        other = statistics.median(theirs)
        print(f"original orchestrator 0.18.1, same command and workspaces: median {other * 1000:.1f} ms; "
              f"ratio ours / original {median / other:.2f}")
    else:
        print("original orchestrator: not installed under bench/.original (bench/compare.py --install); no ratio")


if __name__ == "__main__":
    main()
