"""What the benchmarks share. Scripts here run as files (`python bench/x.py`), so this is imported as
``_common`` from their own folder."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["free_port", "isolated_env", "stop"]

STOP_TIMEOUT = 20.0  # SIGTERM -> SIGKILL for a benchmarked process
KILL_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def isolated_env(root: Path) -> dict[str, str]:
    """The caller's environment without OPENWORK_*/OPENCODE_* settings, with HOME and the XDG dirs under
    ``root``: opencode starts from the same empty state on both sides of a comparison."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENWORK_", "OPENCODE_"))}
    for sub in ("config", "data", "cache", "state"):
        (root / sub).mkdir(parents=True, exist_ok=True)
        env[f"XDG_{sub.upper()}_HOME"] = str(root / sub)
    env["HOME"] = str(root)
    env["OPENCODE_DISABLE_AUTOUPDATE"] = "1"
    return env


def stop(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM, then SIGKILL after ``STOP_TIMEOUT``; always reaped."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=KILL_TIMEOUT)
