"""The verified binary cache: ``<sidecar-dir>/<component>/<version>/<target>/<exe>``.

Beside each binary: ``<exe>.sha256`` (its hash, written before the binary is renamed into place, so a
crash in between leaves a binary that fails verification, never one that passes unverified) and
``origin.json`` (where it came from and the version ``--version`` reported when it was installed).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from openwork.errors import SidecarError
from openwork.sidecars.digest import file_sha256
from openwork.store.atomic import write_atomic

__all__ = [
    "CacheEntry",
    "entry_dir",
    "install",
    "install_lock",
    "list_entries",
    "prune",
    "read_origin",
    "record_origin",
    "verify",
]

INSTALL_LOCK_TIMEOUT = 900.0  # another process may be mid-download of a large binary
ORIGIN = "origin.json"


@dataclass(frozen=True, kw_only=True, slots=True)
class CacheEntry:
    component: str
    version: str
    target: str
    path: Path
    recorded_sha256: str | None

    def to_json(self) -> dict[str, object]:
        return {
            "component": self.component,
            "version": self.version,
            "target": self.target,
            "path": str(self.path),
            "sha256": self.recorded_sha256,
        }


def entry_dir(sidecar_dir: Path, component: str, version: str, target: str) -> Path:
    for part in (component, version, target):
        if not part or "/" in part or "\\" in part or part in (".", ".."):
            raise SidecarError(f"invalid sidecar cache name {part!r}")
    return sidecar_dir / component / version / target


def _digest_file(binary: Path) -> Path:
    return binary.with_name(binary.name + ".sha256")


def verify(binary: Path) -> str | None:
    """The binary's sha256 when it matches its record; ``None`` when missing, unrecorded or tampered."""
    record = _digest_file(binary)
    if not (binary.is_file() and os.access(binary, os.X_OK) and record.is_file()):
        return None
    try:
        expected = record.read_text().strip()
        actual = file_sha256(binary)
    except OSError:
        return None
    import hmac  # here: hashing loaded OpenSSL already; the external-binary path never needs it

    return actual if hmac.compare_digest(actual, expected) else None


def read_origin(binary: Path) -> dict[str, object]:
    with contextlib.suppress(OSError, ValueError):
        data = json.loads((binary.parent / ORIGIN).read_text())
        if isinstance(data, dict):
            return data
    return {}


def record_origin(binary: Path, origin: dict[str, object]) -> None:
    write_atomic(binary.parent / ORIGIN, json.dumps(origin, indent=2) + "\n", mode=0o644)


def install(staged: Path, binary: Path, origin: dict[str, object]) -> str:
    """Move a verified ``staged`` file (same directory) to ``binary``; returns its sha256."""
    sha = file_sha256(staged)
    staged.chmod(0o755)
    record_origin(binary, {**origin, "sha256": sha})
    write_atomic(_digest_file(binary), sha + "\n", mode=0o644)
    os.replace(staged, binary)
    return sha


@contextlib.contextmanager
def install_lock(directory: Path, timeout: float = INSTALL_LOCK_TIMEOUT) -> Iterator[None]:
    """One installer per cache entry across processes; the others wait, then find it verified."""
    import filelock  # only on a cache miss: a hit is resolved on opencode's start-up path

    directory.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(directory / ".install.lock"), timeout=timeout)
    try:
        lock.acquire()
    except filelock.Timeout as exc:
        raise SidecarError(f"timed out after {timeout:g}s waiting for another install into {directory}") from exc
    try:
        yield
    finally:
        lock.release()


def list_entries(sidecar_dir: Path) -> list[CacheEntry]:
    entries: list[CacheEntry] = []
    if not sidecar_dir.is_dir():
        return entries
    for record in sorted(sidecar_dir.glob("*/*/*/*.sha256")):
        binary = record.with_suffix("")
        target_dir = record.parent
        if not binary.is_file():
            continue
        with contextlib.suppress(OSError):
            entries.append(
                CacheEntry(
                    component=target_dir.parent.parent.name,
                    version=target_dir.parent.name,
                    target=target_dir.name,
                    path=binary,
                    recorded_sha256=record.read_text().strip() or None,
                )
            )
    return entries


def running_binaries() -> set[Path]:
    """The executables of this user's running processes: every data dir shares the cache, so a server of
    another data dir may run a version nobody named (after a runtime upgrade, say)."""
    import psutil

    found: set[Path] = set()
    for proc in psutil.process_iter(["exe"]):
        exe = proc.info.get("exe")
        if exe:
            found.add(Path(exe))
    return found


def prune(sidecar_dir: Path, keep: dict[str, set[str]], *, running: set[Path] | None = None) -> list[CacheEntry]:
    """Remove every cached version not in ``keep[component]`` and not running (``running``: the
    executables in use; by default this machine's processes); returns what was removed."""
    removed: list[CacheEntry] = []
    in_use = running_binaries() if running is None else running
    for entry in list_entries(sidecar_dir):
        if entry.version in keep.get(entry.component, set()) or entry.path in in_use:
            continue
        version_dir = entry.path.parent.parent
        with install_lock(entry.path.parent, timeout=10.0):
            import shutil

            shutil.rmtree(entry.path.parent, ignore_errors=True)
        with contextlib.suppress(OSError):
            version_dir.rmdir()  # only when no other target is left
        removed.append(entry)
    return removed
