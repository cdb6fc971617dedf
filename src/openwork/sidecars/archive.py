"""Unpack one binary from a ``.tar.gz`` or ``.zip`` after checking every member of the archive.

Refused: absolute member paths, ``..`` components, backslashes, NUL; links or devices (a binary release
has no use for them, and a link is how an archive writes outside its folder); more members, more bytes or
a higher compression ratio than a binary release plausibly has.
"""

from __future__ import annotations

import os
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from openwork.errors import ArchiveError

__all__ = ["ArchiveLimits", "check_member_name", "extract_binary"]


@dataclass(frozen=True, kw_only=True, slots=True)
class ArchiveLimits:
    max_members: int = 10_000
    max_total_bytes: int = 2 * 1024 * 1024 * 1024  # sum of uncompressed member sizes
    max_ratio: float = 100.0  # uncompressed / compressed, over the whole archive


def check_member_name(name: str) -> PurePosixPath:
    """A member name that stays inside the extraction folder, or ``ArchiveError``."""
    if not name or "\x00" in name or "\\" in name:
        raise ArchiveError(f"archive member {name!r} has a forbidden character")
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith("/"):
        raise ArchiveError(f"archive member {name!r} is an absolute path")
    if any(part == ".." for part in path.parts):
        raise ArchiveError(f"archive member {name!r} climbs out of the archive with '..'")
    return path


def extract_binary(archive: Path, kind: str, member: str, out: Path, limits: ArchiveLimits | None = None) -> None:
    """Check all of ``archive`` then write ``member`` to ``out`` (mode 0755)."""
    limits = limits or ArchiveLimits()
    wanted = check_member_name(member)
    compressed = max(archive.stat().st_size, 1)
    try:
        if kind == "tar.gz":
            _from_tar(archive, wanted, out, limits, compressed)
        elif kind == "zip":
            _from_zip(archive, wanted, out, limits, compressed)
        else:
            raise ArchiveError(f"unknown archive kind {kind!r}")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
        out.unlink(missing_ok=True)
        raise ArchiveError(f"cannot unpack {archive.name}: {exc}") from exc
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    out.chmod(0o755)


def _budget(total: int, limits: ArchiveLimits, compressed: int, name: str) -> None:
    if total > limits.max_total_bytes:
        raise ArchiveError(f"{name} unpacks to more than {limits.max_total_bytes} bytes")
    if total / compressed > limits.max_ratio:
        raise ArchiveError(f"{name} expands more than {limits.max_ratio:g}x: refusing a possible archive bomb")


def _from_tar(archive: Path, wanted: PurePosixPath, out: Path, limits: ArchiveLimits, compressed: int) -> None:
    with tarfile.open(archive, "r:gz") as tar:
        members = []
        total = 0
        for info in tar:  # streams headers; the gzip layer is read once
            members.append(info)
            if len(members) > limits.max_members:
                raise ArchiveError(f"{archive.name} has more than {limits.max_members} members")
            check_member_name(info.name)
            if not (info.isfile() or info.isdir()):
                raise ArchiveError(f"archive member {info.name!r} is a link or device; refusing")
            if info.isfile():
                total += info.size
                _budget(total, limits, compressed, archive.name)
        found = [m for m in members if m.isfile() and PurePosixPath(m.name) == wanted]
        if not found:
            raise ArchiveError(f"{archive.name} has no file {wanted}")
        source = tar.extractfile(found[-1])
        if source is None:  # pragma: no cover - isfile() guarantees a stream
            raise ArchiveError(f"cannot read {wanted} from {archive.name}")
        with source:
            _copy(source, out, found[-1].size)


def _from_zip(archive: Path, wanted: PurePosixPath, out: Path, limits: ArchiveLimits, compressed: int) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        if len(infos) > limits.max_members:
            raise ArchiveError(f"{archive.name} has more than {limits.max_members} members")
        total = 0
        target = None
        for info in infos:
            check_member_name(info.filename)
            kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the zip was made without Unix modes
            if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
                raise ArchiveError(f"archive member {info.filename!r} is a link or device; refusing")
            total += info.file_size
            _budget(total, limits, compressed, archive.name)
            if not info.is_dir() and PurePosixPath(info.filename) == wanted:
                target = info
        if target is None:
            raise ArchiveError(f"{archive.name} has no file {wanted}")
        with zf.open(target) as source:
            _copy(source, out, target.file_size)


def _copy(source: IO[bytes], out: Path, declared: int) -> None:
    # The header's size is checked above; count the real bytes too, since headers can lie.
    written = 0
    with out.open("wb") as target:
        while chunk := source.read(1024 * 1024):
            written += len(chunk)
            if written > declared:
                raise ArchiveError(f"{out.name}: member is larger than its header says")
            target.write(chunk)
        target.flush()
        os.fsync(target.fileno())
