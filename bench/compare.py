"""Side by side: openwork-py against the original TypeScript orchestrator, same machine, same opencode.

Run:
  .venv/bin/python bench/compare.py --install          # once: npm installs the original into bench/.original
  .venv/bin/python bench/compare.py [--rounds N] [--markdown]

What is measured, per round, alternating which side goes first:
  start      `daemon run` launched to "ready" printed (opencode healthy behind it)
  add        `workspace add DIR --json`, one call
  list       `workspace list --json`, median of 5 calls
  idle RSS   the control process(es) 2 s after start: the process tree minus opencode
  stop       `daemon stop` invoked to no process of the tree alive

Both sides run `daemon run` in the foreground under this script: the original's `daemon start` re-executes
itself through a bun path that only exists inside its build (it fails here). Both run opencode from the
same binary. The original 0.18.1 expects opencode 1.17.11 and never reports a 1.18.x healthy (it probes
before opencode listens and waits forever), so the comparison pins that version for both sides by default.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import selectors
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from _common import isolated_env

HERE = Path(__file__).resolve().parent
ORIGINAL_DIR = HERE / ".original"
ORIGINAL_VERSION = "0.18.1"
OPENCODE_VERSION = "1.17.11"  # what openwork-orchestrator 0.18.1 pins
START_DEADLINE = 30.0  # a start not ready by then is counted as hung, and the round goes on
STOP_DEADLINE = 30.0
CLI_TIMEOUT = 30.0
IDLE_SECONDS = 2.0
LIST_CALLS = 5


def install(opencode_version: str) -> None:
    """npm installs the original CLI, its linux-x64 binary package and the shared opencode build."""
    ORIGINAL_DIR.mkdir(exist_ok=True)
    packages = [f"openwork-orchestrator@{ORIGINAL_VERSION}", f"opencode-linux-x64@{opencode_version}"]
    print(f"npm install {' '.join(packages)} into {ORIGINAL_DIR}", flush=True)
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "--prefix", str(ORIGINAL_DIR), *packages],
        check=True,
        timeout=600,
    )


def original_cli() -> Path:
    return ORIGINAL_DIR / "node_modules" / "openwork-orchestrator-linux-x64" / "bin" / "openwork"


def shared_opencode() -> Path:
    return ORIGINAL_DIR / "node_modules" / "opencode-linux-x64" / "bin" / "opencode"


@dataclass
class Side:
    """How one implementation is started, driven and stopped."""

    name: str
    argv: Callable[[Path, Path], list[str]]  # (data dir, opencode) -> `daemon run` argv
    ready: Callable[[str], bool]  # a stdout line that says "healthy"
    cli: Callable[[Path, list[str]], list[str]]  # (data dir, args) -> a thin-client argv
    results: dict[str, list[float]] = field(default_factory=dict)
    hung: int = 0  # starts that never reported ready

    def record(self, metric: str, value: float) -> None:
        self.results.setdefault(metric, []).append(value)


def ours() -> Side:
    exe = str(Path(sys.executable).with_name("openwork"))
    return Side(
        name="openwork-py",
        argv=lambda data, oc: [exe, "daemon", "run", "--json", "--port", "0", "--data-dir", str(data),
                               "--allow-external", "--opencode-bin", str(oc)],
        ready=lambda line: line.startswith("{"),
        cli=lambda data, args: [exe, *args, "--data-dir", str(data)],
    )


def original() -> Side:
    exe = str(original_cli())
    return Side(
        name="original",
        argv=lambda data, oc: [exe, "daemon", "run", "--data-dir", str(data), "--opencode-source", "external",
                               "--allow-external", "--opencode-bin", str(oc)],
        ready=lambda line: "daemon running on" in line,
        cli=lambda data, args: [exe, *args, "--data-dir", str(data)],
    )


def timed(argv: list[str], env: dict[str, str]) -> float:
    began = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT)
    elapsed = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return elapsed


def wait_ready(proc: subprocess.Popen[bytes], ready: Callable[[str], bool], deadline: float) -> bool:
    """Read stdout lines until one says ready, the process exits, or the deadline passes."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buffered = b""
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while (left := deadline - time.perf_counter()) > 0:
            if not sel.select(left):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise SystemExit(f"daemon exited ({proc.wait(timeout=10)}) before it was ready")
            buffered += chunk
            *lines, buffered = buffered.split(b"\n")
            if any(ready(line.decode(errors="replace")) for line in lines):
                return True
    return False


def control_rss(proc: psutil.Process, opencode: Path) -> float:
    """RSS of the tree minus opencode (a process running the shared binary), in MB."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            if p.exe() == str(opencode):
                continue
            total += p.memory_info().rss
        except psutil.Error:
            continue
    return total / 1e6


def one_round(side: Side, root: Path, opencode: Path) -> None:
    data, folder = root / "data", root / "workspace"
    folder.mkdir(parents=True)
    env = isolated_env(root / "home")
    began = time.perf_counter()
    proc = subprocess.Popen(side.argv(data, opencode), env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    tree: list[psutil.Process] = []
    try:
        if not wait_ready(proc, side.ready, began + START_DEADLINE):
            side.hung += 1
            print(f"{side.name}: not ready within {START_DEADLINE:g}s (counted as hung)", flush=True)
            return
        side.record("start (s)", time.perf_counter() - began)
        added = timed(side.cli(data, ["workspace", "add", str(folder), "--json"]), env)
        side.record("workspace add (ms)", 1000 * added)
        lists = [timed(side.cli(data, ["workspace", "list", "--json"]), env) for _ in range(LIST_CALLS)]
        side.record("workspace list (ms)", 1000 * statistics.median(lists))
        time.sleep(IDLE_SECONDS)  # idle by definition: nothing is asked of it meanwhile
        root_proc = psutil.Process(proc.pid)
        tree = [root_proc, *root_proc.children(recursive=True)]
        side.record("idle RSS (MB)", control_rss(root_proc, opencode))
        stop_began = time.perf_counter()
        timed(side.cli(data, ["daemon", "stop"]), env)
        deadline = stop_began + STOP_DEADLINE
        while any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in tree):
            if time.perf_counter() > deadline:
                raise SystemExit(f"{side.name}: processes left {STOP_DEADLINE:g}s after stop")
            time.sleep(0.005)
        side.record("stop (s)", time.perf_counter() - stop_began)
    finally:
        if not tree:
            with contextlib.suppress(psutil.Error):
                tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        for p in tree:
            with contextlib.suppress(psutil.Error):
                p.kill()


def table(sides: tuple[Side, Side], rounds: int, opencode: Path) -> str:
    a, b = sides
    rows = [f"| metric (median over {rounds} rounds) | {a.name} | {b.name} | ratio ({a.name} / {b.name}) |",
            "| --- | ---: | ---: | ---: |"]
    for metric in a.results:
        x, y = statistics.median(a.results[metric]), statistics.median(b.results.get(metric, [float("nan")]))
        rows.append(f"| {metric} | {x:.3f} | {y:.3f} | {x / y:.2f} |")
    rows.append(f"| starts that never became ready | {a.hung} | {b.hung} | |")
    version = subprocess.run([str(opencode), "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    return "\n".join(rows) + f"\n\nopencode {version} ({opencode}) on both sides; original {ORIGINAL_VERSION}."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--install", action="store_true", help="npm install the original and opencode, then exit")
    parser.add_argument("--opencode-version", default=OPENCODE_VERSION, help="with --install")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.install:
        if shutil.which("npm") is None:
            raise SystemExit("npm is needed to install the original")
        install(args.opencode_version)
        return
    if not original_cli().exists() or not shared_opencode().exists():
        raise SystemExit(f"the original is not installed in {ORIGINAL_DIR}: run `bench/compare.py --install` first")
    sides = (ours(), original())
    opencode = shared_opencode()
    with tempfile.TemporaryDirectory(prefix="openwork-compare-") as tmp:
        for i in range(args.rounds):
            order = sides if i % 2 == 0 else sides[::-1]
            for side in order:
                one_round(side, Path(tmp) / f"{side.name}-{i}", opencode)
            print(f"round {i + 1}: " + "  ".join(
                f"{s.name} start {s.results.get('start (s)', [float('nan')])[-1]:.3f}s hung {s.hung}"
                for s in sides), flush=True)
    print()
    print(table(sides, args.rounds, opencode))


if __name__ == "__main__":
    main()
