"""Paths no client-facing operation may touch: what the server owns or trusts, and config that runs code.

The *protected set* (the data dir with its secrets, database and opencode config; the sidecar cache; the
user's openwork config folder with the sandbox mount allowlist) is unreadable and unwritable through file
sessions and the proxy whatever the workspace, and never listed. *Code config* (``.git/hooks``,
``.git/config``, ``opencode.json[c]``, ``.opencode/``) runs code at the next commit or opencode reload:
file sessions treat it as read-only for collaborator tokens, and for every minted token in manual approval
mode, unless the host started with ``--files-allow-config-write``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from openwork.config import ServerConfig
from openwork.paths import user_config_dir
from openwork.runtime.envstore import env_store_path

__all__ = ["CODE_CONFIG", "ProtectedSet", "touches"]

Parts = tuple[str, ...]

# Relative to a workspace root: what git or opencode executes or loads as code.
CODE_CONFIG: tuple[Parts, ...] = (
    (".git", "hooks"),
    (".git", "config"),  # core.hooksPath, core.fsmonitor and friends name commands
    ("opencode.json",),
    ("opencode.jsonc",),
    (".opencode",),
)


def touches(parts: Parts, roots: tuple[Parts, ...], *, destructive: bool) -> bool:
    """``parts`` is one of ``roots`` or inside one; when ``destructive`` (delete, rename) also when it is
    an ancestor of one (removing or moving the folder that holds it)."""
    return any(parts[: len(r)] == r or (destructive and r[: len(parts)] == parts) for r in roots)


@dataclass(frozen=True, slots=True)
class ProtectedSet:
    """Absolute, resolved roots the server owns or trusts."""

    roots: tuple[Path, ...]

    @classmethod
    def for_server(cls, config: ServerConfig) -> ProtectedSet:
        """The server's data dir, its sidecar cache, the user's config folder and the env store it applies."""
        candidates = (config.data_dir, config.sidecar_dir, user_config_dir(), config.env_store or env_store_path())
        return cls(tuple(dict.fromkeys(Path(os.path.realpath(p)) for p in candidates)))

    def within(self, folder: Path | str) -> tuple[Parts, ...]:
        """The protected roots inside ``folder``, relative to it; ``((),)`` when ``folder`` itself lies
        inside one (then every path in it is protected)."""
        base = Path(os.path.realpath(folder))
        found: list[Parts] = []
        for root in self.roots:
            if base == root or root in base.parents:
                return ((),)
            if base in root.parents:
                found.append(root.relative_to(base).parts)
        return tuple(found)

    def covers(self, path: Path | str) -> bool:
        """``path`` (resolved, symlinks followed) is a protected root or inside one."""
        real = Path(os.path.realpath(path))
        return any(real == root or root in real.parents for root in self.roots)
