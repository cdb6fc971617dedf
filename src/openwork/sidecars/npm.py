"""Fetch one binary out of an npm package with the ``npm`` client, verified against the registry's
SHA-512 integrity before anything reaches the final path."""

from __future__ import annotations

import base64
import contextlib
import hmac
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

import filelock

from openwork.errors import IntegrityError, SidecarError
from openwork.sidecars.digest import file_digest, file_sha256
from openwork.store.atomic import write_atomic

__all__ = ["install_npm_binary", "verify_integrity"]

NPM_VIEW_TIMEOUT = 60.0  # registry metadata lookup
NPM_PACK_TIMEOUT = 600.0  # the opencode tarball is ~60 MB
INSTALL_LOCK_TIMEOUT = 900.0  # another process may be mid-download
MAX_MEMBER_BYTES = 512 * 1024 * 1024  # refuse absurd "binaries"


def _npm(args: list[str], *, timeout: float, cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(["npm", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, check=False)
    except subprocess.TimeoutExpired as exc:
        raise SidecarError(f"`npm {args[0]}` did not finish within {timeout:g}s") from exc
    except OSError as exc:
        raise SidecarError(f"cannot run npm: {exc.strerror}") from exc
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if "npm warn" not in ln.lower()]
        raise SidecarError(f"`npm {args[0]}` failed: {' '.join(lines[-5:]) or 'exit ' + str(done.returncode)}")
    return done.stdout


def verify_integrity(path: Path, integrity: str) -> None:
    """Check an npm ``dist.integrity`` (``sha512-<base64>``) against a file; raise on mismatch."""
    algorithm, _, expected = integrity.strip().partition("-")
    if algorithm not in ("sha512", "sha384", "sha256") or not expected:
        raise IntegrityError(f"unsupported integrity value {integrity!r}")
    actual = base64.b64encode(file_digest(path, algorithm)).decode()
    if not hmac.compare_digest(actual, expected):
        raise IntegrityError(f"{path.name}: {algorithm} does not match the registry's integrity")


def _extract_member(tarball: Path, member: str, out: Path) -> None:
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            try:
                info = archive.getmember(member)
            except KeyError as exc:
                raise SidecarError(f"{tarball.name} has no {member}") from exc
            if not info.isfile():
                raise SidecarError(f"{member} in {tarball.name} is not a regular file")
            if info.size > MAX_MEMBER_BYTES:
                raise SidecarError(f"{member} in {tarball.name} is implausibly large ({info.size} bytes)")
            source = archive.extractfile(info)
            if source is None:  # pragma: no cover - isfile() guarantees a stream
                raise SidecarError(f"cannot read {member} from {tarball.name}")
            with source, out.open("wb") as target:
                shutil.copyfileobj(source, target, 1024 * 1024)
                target.flush()
                os.fsync(target.fileno())
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise SidecarError(f"cannot unpack {tarball.name}: {exc}") from exc
    out.chmod(0o755)


def install_npm_binary(
    *,
    package: str,
    version: str,
    member: str,
    dest: Path,
    progress: Callable[[str], None] | None = None,
) -> str:
    """Install ``member`` of ``package@version`` at ``dest`` (plus ``<dest dir>/<name>.sha256``).

    Returns the binary's SHA-256. Concurrent callers serialise on a lock; the second one finds the
    verified file and does not download again.
    """
    say = progress or (lambda _msg: None)
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest_file = dest.with_name(dest.name + ".sha256")
    lock = filelock.FileLock(str(dest.parent / ".install.lock"), timeout=INSTALL_LOCK_TIMEOUT)
    try:
        lock.acquire()
    except filelock.Timeout as exc:
        raise SidecarError(f"timed out waiting for another install into {dest.parent}") from exc
    try:
        if dest.is_file() and digest_file.is_file():
            current = file_sha256(dest)
            if hmac.compare_digest(current, digest_file.read_text().strip()):
                return current
        spec = f"{package}@{version}"
        say(f"resolving {spec} from the npm registry")
        meta = json.loads(_npm(["view", spec, "dist", "--json"], timeout=NPM_VIEW_TIMEOUT) or "{}")
        integrity = meta.get("integrity") if isinstance(meta, dict) else None
        if not integrity:
            raise IntegrityError(f"the registry gave no integrity for {spec}; refusing to install")
        with tempfile.TemporaryDirectory(prefix=".fetch-", dir=dest.parent) as tmp:
            tmp_dir = Path(tmp)
            say(f"downloading {spec} (npm pack)")
            packed = json.loads(
                _npm(["pack", spec, "--json", "--pack-destination", str(tmp_dir)], timeout=NPM_PACK_TIMEOUT)
            )
            tarball = tmp_dir / packed[0]["filename"]
            verify_integrity(tarball, integrity)
            say(f"verified {spec} ({integrity.split('-')[0]}); unpacking {member}")
            staged = tmp_dir / dest.name
            _extract_member(tarball, member, staged)
            sha = file_sha256(staged)
            # Hash file first: a crash between the two renames leaves a binary that fails
            # verification (and is fetched again), never an unverified binary that passes.
            write_atomic(digest_file, sha + "\n", mode=0o644)
            os.replace(staged, dest)
        say(f"installed {spec} at {dest}")
        return sha
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise SidecarError(f"unexpected answer from npm for {package}@{version}: {exc}") from exc
    finally:
        with contextlib.suppress(Exception):
            lock.release()
