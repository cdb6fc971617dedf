"""Extra mounts (``--sandbox-mount HOST:NAME[:ro]``): only inside allowlisted roots, never secret-looking paths.

Everything is checked with realpath before any engine is called.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from openwork.errors import ConfigError
from openwork.paths import sandbox_allowlist_path

__all__ = ["BLOCKED_NAMES", "Mount", "load_allowlist", "parse_mount"]

BLOCKED_NAMES = (
    ".ssh",
    ".gnupg",
    ".aws",
    ".azure",
    ".gcloud",
    ".kube",
    ".docker",
    "credentials",
    ".env",
    ".netrc",
    ".npmrc",
    ".pypirc",
    "id_rsa",
    "id_ed25519",
    "private_key",
    ".secret",
)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True, slots=True)
class Mount:
    host: Path  # realpath
    name: str
    read_only: bool

    @property
    def target(self) -> str:
        return f"/workspace/extra/{self.name}"


def load_allowlist(path: Path) -> list[Path]:
    """``{"allowedRoots": [...]}`` (or a bare list); missing file = nothing allowed."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the sandbox mount allowlist {path}: {exc}") from exc
    roots = data.get("allowedRoots") if isinstance(data, dict) else data
    if not isinstance(roots, list) or not all(isinstance(r, str) for r in roots):
        raise ConfigError(f'{path} must hold {{"allowedRoots": ["/abs/path", ...]}}')
    return [Path(r).expanduser().resolve() for r in roots]


def parse_mount(spec: str, allowed: list[Path]) -> Mount:
    parts = spec.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
        raise ConfigError(f"--sandbox-mount {spec!r}: expected HOST:NAME or HOST:NAME:ro")
    host_raw, name = parts[0], parts[1]
    if not _NAME_RE.match(name) or name in (".", ".."):
        raise ConfigError(f"--sandbox-mount {spec!r}: NAME must be a plain name (letters, digits, . _ -)")
    if ".." in Path(host_raw).parts or not host_raw.startswith(("/", "~")):
        raise ConfigError(f"--sandbox-mount {spec!r}: HOST must be an absolute path without '..'")
    try:
        host = Path(host_raw).expanduser().resolve(strict=True)
    except (OSError, RuntimeError):
        raise ConfigError(f"--sandbox-mount {spec!r}: {host_raw} does not exist") from None
    for part in host.parts:
        lowered = part.lower()
        if any(
            lowered == b or lowered.startswith(b + ".") or (b.startswith(".") and lowered == b) for b in BLOCKED_NAMES
        ):
            raise ConfigError(f"--sandbox-mount {spec!r}: {host} looks like a secret ({part}); refusing to mount it")
    if not any(host == root or root in host.parents for root in allowed):
        raise ConfigError(
            f"--sandbox-mount {spec!r}: {host} is not inside an allowed root",
            hint=f'add a root to {sandbox_allowlist_path()} ({{"allowedRoots": [...]}})',
        )
    return Mount(host=host, name=name, read_only=len(parts) == 3 and parts[2] == "ro")
