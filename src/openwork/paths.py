"""Where things live: the data dir's layout (:class:`DataDir`), one name per file the server keeps.
Import-light: the thin CLI needs these and nothing heavier."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "APP_NAME",
    "DataDir",
    "default_data_dir",
    "platform_data_dir",
    "sandbox_allowlist_path",
    "user_config_dir",
    "user_sidecar_dir",
]

APP_NAME = "openwork-orchestrator"


def default_data_dir() -> Path:
    """``OPENWORK_DATA_DIR``, else the original's ``~/.openwork/openwork-orchestrator``: either CLI finds
    the other's daemon without ``--data-dir``."""
    env = os.environ.get("OPENWORK_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".openwork" / APP_NAME


def platform_data_dir() -> Path:
    """Where openwork-py kept its data before it used the original's default (migrated once)."""
    if sys.platform.startswith("linux"):
        # platformdirs' Linux rule, without importing it (the thin CLI's start-up time is a budget).
        base = os.environ.get("XDG_DATA_HOME", "").strip() or os.path.expanduser("~/.local/share")
        return Path(base) / APP_NAME
    import platformdirs

    return platformdirs.user_data_path(APP_NAME, appauthor=False)


def user_sidecar_dir() -> Path:
    """The verified binary cache every data dir shares, unless ``--sidecar-dir`` says otherwise: the
    default data dir's ``sidecars`` (the original's place), so a new data dir never downloads opencode
    again and caches made before this default keep serving."""
    return Path.home() / ".openwork" / APP_NAME / "sidecars"


def sandbox_allowlist_path() -> Path:
    """The roots ``--sandbox-mount`` may use: ``OPENWORK_SANDBOX_MOUNT_ALLOWLIST``, else in the user config dir."""
    env = os.environ.get("OPENWORK_SANDBOX_MOUNT_ALLOWLIST")
    return Path(env).expanduser() if env else Path.home() / ".config" / "openwork" / "sandbox-mount-allowlist.json"


def user_config_dir() -> Path:
    """The user's openwork config folder (the mount allowlist's): trusted, so never reachable by clients."""
    return sandbox_allowlist_path().parent


@dataclass(frozen=True, slots=True)
class DataDir:
    """A data dir and the place of everything in it."""

    root: Path

    @classmethod
    def at(cls, given: Path | None) -> DataDir:
        """``--data-dir`` (click already read ``OPENWORK_DATA_DIR``), else the default; made absolute."""
        return cls((given.expanduser() if given else default_data_dir()).absolute())

    @property
    def state(self) -> Path:
        """Runtime records of a run: the lock, the server and child records, the daemon's record."""
        return self.root / "run"

    @property
    def lock(self) -> Path:
        return self.state / "server.lock"

    @property
    def server_record(self) -> Path:
        """Written by a running server: its URL, pid and create time."""
        return self.state / "server.json"

    @property
    def children(self) -> Path:
        return self.state / "children.json"

    @property
    def daemon_record(self) -> Path:
        return self.state / "daemon.json"

    @property
    def log_file(self) -> Path:
        """The unified log (server and children), JSON lines, rotated: ``openwork logs`` reads it."""
        return self.root / "logs" / "openwork.jsonl"

    @property
    def daemon_log(self) -> Path:
        return self.root / "logs" / "daemon.log"

    @property
    def db(self) -> Path:
        return self.root / "openwork.db"

    @property
    def client_token(self) -> Path:
        return self.root / "secrets" / "client-token"

    @property
    def host_token(self) -> Path:
        return self.root / "secrets" / "host-token"

    @property
    def sandbox_persist(self) -> Path:
        """Mounted at /persist in a sandbox, unless ``--sandbox-persist-dir`` says otherwise."""
        return self.root / "sandbox-persist"

    @property
    def daemon_workspace(self) -> Path:
        """The folder a daemon's opencode starts in when no workspace was given (not a workspace)."""
        return self.root / "daemon-workspace"

    def sandbox_env_file(self, run_id: str) -> Path:
        return self.state / f"sandbox-{run_id}.env"
