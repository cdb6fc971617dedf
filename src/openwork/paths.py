"""Where things live under the data dir. Import-light: the thin CLI needs these and nothing heavier."""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["APP_NAME", "default_data_dir", "server_record_path", "token_paths"]

APP_NAME = "openwork-orchestrator"


def default_data_dir() -> Path:
    """``OPENWORK_DATA_DIR``, else the platform's user data dir for ``openwork-orchestrator``."""
    env = os.environ.get("OPENWORK_DATA_DIR")
    if env:
        return Path(env).expanduser()
    if sys.platform.startswith("linux"):
        # platformdirs' Linux rule, without importing it (the CLI's start-up time is a budget).
        base = os.environ.get("XDG_DATA_HOME", "").strip() or os.path.expanduser("~/.local/share")
        return Path(base) / APP_NAME
    import platformdirs

    return platformdirs.user_data_path(APP_NAME, appauthor=False)


def token_paths(data_dir: Path) -> tuple[Path, Path]:
    """Where the client and host tokens are kept."""
    return data_dir / "secrets" / "client-token", data_dir / "secrets" / "host-token"


def server_record_path(data_dir: Path) -> Path:
    """Written by a running server: its URL, pid and create time."""
    return data_dir / "run" / "server.json"
