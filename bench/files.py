"""File sessions end to end over HTTP against a real `openwork serve --approval auto`.

Run: .venv/bin/python bench/files.py [--files 1000] [--tree 100000]
Prints wall time and MB/s for: write-batch of N 4 KiB files, read-batch of the same (target <= 0.5 s),
and a full catalog snapshot (all pages) of a tree of --tree files (target <= 2 s). A baseline measured in
the same run — the same files written, read and listed directly with Python on the same disk — gives
the ratio of our overhead.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from openwork.config import default_data_dir
from openwork.sidecars.resolver import Resolver, SidecarSettings

SIZE = 4096


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--tree", type=int, default=100_000)
    args = parser.parse_args()
    binary = Resolver(SidecarSettings(sidecar_dir=default_data_dir() / "sidecars")).resolve("opencode").path
    with tempfile.TemporaryDirectory(prefix="openwork-bench-") as tmp:
        root = Path(tmp)
        ws = root / "ws"
        (ws / "tree").mkdir(parents=True)
        print(f"creating a tree of {args.tree} files...", flush=True)
        for i in range(args.tree):
            folder = ws / "tree" / f"d{i // 1000:03d}"
            if i % 1000 == 0:
                folder.mkdir()
            (folder / f"f{i:06d}.txt").write_bytes(b"x")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENWORK_", "OPENCODE_"))}
        env.update(HOME=str(root / "home"), OPENWORK_DATA_DIR=str(root / "data"))
        proc = subprocess.Popen(
            [sys.executable, "-m", "openwork", "serve", "--json", "--port", "0", "--workspace", str(ws),
             "--approval", "auto", "--allow-external", "--opencode-bin", str(binary)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        try:
            assert proc.stdout is not None
            info = json.loads(proc.stdout.readline())
            run(info, ws, args.files)
        finally:
            proc.terminate()
            proc.wait(30)


def run(info: dict[str, str], ws: Path, count: int) -> None:
    headers = {"authorization": f"Bearer {info['clientToken']}"}
    payload = os.urandom(SIZE)
    mb = count * SIZE / 1e6
    with httpx.Client(base_url=info["openworkUrl"], headers=headers, timeout=120, trust_env=False) as client:
        ws_id = client.get("/workspaces").json()["data"]["items"][0]["id"]
        sid = client.post(f"/workspaces/{ws_id}/file-sessions", json={"write": True}).json()["data"]["session"]["id"]
        base = f"/workspaces/{ws_id}/file-sessions/{sid}"
        writes = [{"path": f"bench/f{i:04d}.bin", "contentBase64": base64.b64encode(payload).decode()}
                  for i in range(count)]
        began = time.perf_counter()
        r = client.post(f"{base}/write-batch", json={"writes": writes})
        write_s = time.perf_counter() - began
        assert all(item["ok"] for item in r.json()["data"]["items"])
        began = time.perf_counter()
        r = client.post(f"{base}/read-batch", json={"paths": [w["path"] for w in writes]})
        read_s = time.perf_counter() - began
        assert all(item["ok"] for item in r.json()["data"]["items"])
        began = time.perf_counter()
        listed, after = 0, None
        while True:
            params = {"limit": 10_000, "prefix": "tree", **({"after": after} if after else {})}
            page = client.get(f"{base}/catalog/snapshot", params=params).json()["data"]
            listed += len(page["items"])
            if not page["truncated"]:
                break
            after = page["nextAfter"]
        catalog_s = time.perf_counter() - began

    # Baseline in the same run: plain Python on the same disk, no HTTP, no checks.
    began = time.perf_counter()
    for i in range(count):
        (ws / "base" / f"f{i:04d}.bin").parent.mkdir(exist_ok=True)
        (ws / "base" / f"f{i:04d}.bin").write_bytes(payload)
    base_write = time.perf_counter() - began
    began = time.perf_counter()
    for i in range(count):
        (ws / "base" / f"f{i:04d}.bin").read_bytes()
    base_read = time.perf_counter() - began
    began = time.perf_counter()
    walked = sum(1 for _dir, _sub, names in os.walk(ws / "tree") for _ in names)
    base_walk = time.perf_counter() - began

    print(f"write-batch {count} x 4 KiB: {write_s:.3f} s ({mb / write_s:.1f} MB/s); plain writes {base_write:.3f} s, "
          f"ratio {write_s / base_write:.1f}")
    print(f"read-batch  {count} x 4 KiB: {read_s:.3f} s ({mb / read_s:.1f} MB/s; target <= 0.5 s); plain reads "
          f"{base_read:.3f} s, ratio {read_s / base_read:.1f}")
    print(f"catalog of {listed} files (all pages): {catalog_s:.3f} s (target <= 2 s); os.walk {walked} files "
          f"{base_walk:.3f} s, ratio {catalog_s / base_walk:.1f}")


if __name__ == "__main__":
    main()
