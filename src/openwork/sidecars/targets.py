"""Target triples: which build of a binary this machine (or a container) runs."""

from __future__ import annotations

import glob
import os
import sys

__all__ = ["KNOWN_TARGETS", "current_target", "executable_name", "machine_arch"]

# Names as the npm registry and the release manifests spell them.
KNOWN_TARGETS = (
    "linux-x64",
    "linux-x64-baseline",
    "linux-x64-musl",
    "linux-x64-baseline-musl",
    "linux-arm64",
    "linux-arm64-musl",
    "darwin-arm64",
    "darwin-x64",
    "darwin-x64-baseline",
    "windows-x64",
    "windows-x64-baseline",
)


def _is_musl() -> bool:
    return bool(glob.glob("/lib/ld-musl-*.so.1"))


_ARCHES = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}


def machine_arch(*, default: str | None = None) -> str:
    """This machine's architecture as targets spell it (x64, arm64); an unknown one as is, or ``default``."""
    machine = (os.uname().machine if hasattr(os, "uname") else os.environ.get("PROCESSOR_ARCHITECTURE", "")).lower()
    return _ARCHES.get(machine, default or machine)


def current_target() -> str:
    """This machine's target, e.g. ``linux-x64`` or ``linux-arm64-musl``."""
    system = {"linux": "linux", "darwin": "darwin", "win32": "windows"}.get(sys.platform, sys.platform)
    target = f"{system}-{machine_arch()}"
    if system == "linux" and _is_musl():
        target += "-musl"
    return target


def executable_name(name: str, target: str) -> str:
    return name + ".exe" if target.startswith("windows-") else name
