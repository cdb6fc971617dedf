"""Fetch one binary out of an npm package with the ``npm`` client, verified against the registry's
SHA-512 integrity before anything reaches the final path."""

from __future__ import annotations

import base64
import hmac
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from openwork.errors import IntegrityError, SidecarError
from openwork.sidecars.archive import extract_binary
from openwork.sidecars.digest import file_digest
from openwork.sidecars.progress import NullProgress

if TYPE_CHECKING:
    from openwork.sidecars.progress import Progress

__all__ = ["fetch_npm_binary", "verify_integrity"]

NPM_VIEW_TIMEOUT = 60.0  # registry metadata lookup
NPM_PACK_TIMEOUT = 600.0  # the opencode tarball is ~60 MB


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


def fetch_npm_binary(
    *, package: str, version: str, member: str, directory: Path, progress: Progress | None = None
) -> Path:
    """Fetch ``package@version`` with the npm client, check its integrity, and return ``member``
    unpacked to a new temp file in ``directory`` (the caller installs it)."""
    report = progress or NullProgress()
    spec = f"{package}@{version}"
    report.message(f"resolving {spec} from the npm registry")
    try:
        meta = json.loads(_npm(["view", spec, "dist", "--json"], timeout=NPM_VIEW_TIMEOUT) or "{}")
        integrity = meta.get("integrity") if isinstance(meta, dict) else None
        if not isinstance(integrity, str) or not integrity:
            raise IntegrityError(f"the registry gave no integrity for {spec}; refusing to install")
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".fetch-", dir=directory) as tmp:
            tmp_dir = Path(tmp)
            report.message(f"downloading {spec} (npm pack)")
            packed = json.loads(
                _npm(["pack", spec, "--json", "--pack-destination", str(tmp_dir)], timeout=NPM_PACK_TIMEOUT)
            )
            tarball = tmp_dir / Path(str(packed[0]["filename"])).name
            verify_integrity(tarball, integrity)
            report.message(f"verified {spec} ({integrity.split('-')[0]}); unpacking {member}")
            fd, name = tempfile.mkstemp(prefix=".staged-", dir=directory)
            os.close(fd)
            staged = Path(name)
            try:
                extract_binary(tarball, "tar.gz", member, staged)
            except BaseException:
                staged.unlink(missing_ok=True)
                raise
            return staged
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise SidecarError(f"unexpected answer from npm for {spec}: {exc}") from exc
