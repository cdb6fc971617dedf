"""Resolve the opencode binary: explicit path, then PATH, then the verified npm cache (installing into
it with the ``npm`` client when allowed). The full multi-source resolver plugs in behind
``resolve_opencode``'s signature.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from openwork.errors import SidecarError
from openwork.sidecars.digest import file_sha256
from openwork.sidecars.npm import install_npm_binary

__all__ = ["OPENCODE_VERSION", "ResolvedBinary", "Source", "cache_path", "current_target", "resolve_opencode"]

OPENCODE_VERSION = "1.18.33"  # pinned; the version this runtime is tested against
Source = Literal["explicit", "path", "downloaded"]


@dataclass(frozen=True, kw_only=True, slots=True)
class ResolvedBinary:
    """A binary ready to run, and how we found it."""

    path: Path
    source: Source
    sha256: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"path": str(self.path), "source": self.source, "sha256": self.sha256}


def current_target() -> str:
    """The npm/sidecar target name of this machine, e.g. ``linux-x64``."""
    system = {"linux": "linux", "darwin": "darwin", "win32": "windows"}.get(sys.platform, sys.platform)
    machine = platform.machine().lower()
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return f"{system}-{arch}"


def cache_path(sidecar_dir: Path, version: str = OPENCODE_VERSION, target: str | None = None) -> Path:
    return sidecar_dir / "opencode" / version / (target or current_target()) / "opencode"


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def resolve_opencode(
    *,
    explicit: Path | None,
    sidecar_dir: Path,
    version: str = OPENCODE_VERSION,
    search_path: bool = True,
    install: bool = True,
    progress: Callable[[str], None] | None = None,
) -> ResolvedBinary:
    """Find a runnable opencode, or raise ``SidecarError`` saying where we looked."""
    if explicit is not None:
        if not _executable(explicit):
            raise SidecarError(f"opencode binary {explicit} does not exist or is not executable")
        return ResolvedBinary(path=explicit.resolve(), source="explicit")
    if search_path:
        found = shutil.which("opencode")
        if found:
            return ResolvedBinary(path=Path(found).resolve(), source="path")
    target = current_target()
    cached = cache_path(sidecar_dir, version, target)
    digest_file = cached.with_name("opencode.sha256")
    if _executable(cached) and digest_file.is_file():
        expected = digest_file.read_text().strip()
        actual = file_sha256(cached)
        if actual == expected:
            return ResolvedBinary(path=cached, source="downloaded", sha256=actual)
        if progress:
            progress(f"cached opencode at {cached} failed verification; fetching it again")
    if not install:
        raise SidecarError(
            "no opencode binary found: pass --opencode-bin, put opencode on PATH, "
            "or run `openwork sidecars fetch opencode`",
        )
    if shutil.which("npm") is None:
        raise SidecarError("no opencode binary found and `npm` is not installed to fetch it")
    package = f"opencode-{target}"
    sha = install_npm_binary(
        package=package, version=version, member="package/bin/opencode", dest=cached, progress=progress
    )
    return ResolvedBinary(path=cached, source="downloaded", sha256=sha)
