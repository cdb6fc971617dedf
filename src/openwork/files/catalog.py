"""A sorted, paged listing of a workspace, walked by fd (symlinks are listed, never entered).

Order is component-wise (``a/b`` sorts with its folder ``a``, before ``a-c``), which is the order of a
depth-first walk with sorted names, so a page that starts ``after`` a path skips whole subtrees.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from openwork.files.ops import revision_of
from openwork.files.pathrules import check_path, mapped
from openwork.files.tempjournal import TEMP_PREFIX
from openwork.wire import WireModel

__all__ = ["DEFAULT_EXCLUDES", "CatalogItem", "CatalogItemInfo", "CatalogPage", "snapshot"]

DEFAULT_EXCLUDES = frozenset({".git", "node_modules"})
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True, slots=True)
class CatalogItem:
    path: str
    kind: str  # file | dir | symlink | other
    size: int
    mtime_ms: int
    revision: str

    def model(self) -> CatalogItemInfo:
        """The entry as it goes on the wire."""
        return CatalogItemInfo(
            path=self.path, kind=self.kind, size=self.size, mtime_ms=self.mtime_ms, revision=self.revision
        )

    def to_json(self) -> dict[str, object]:
        """The wire dict; kept for ``FilesService.catalog`` (openwork.files.service)."""
        return self.model().wire()


class CatalogItemInfo(WireModel):
    """One entry of a catalog page."""

    path: str
    kind: str  # file | dir | symlink | other
    size: int
    mtime_ms: int
    revision: str


@dataclass(frozen=True, slots=True)
class CatalogPage:
    items: list[CatalogItem]
    next_after: str | None
    truncated: bool


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "other"


def _walk(
    dir_fd: int,
    base: tuple[str, ...],
    after: tuple[str, ...],
    excludes: frozenset[str],
    hidden: frozenset[tuple[str, ...]],
) -> Iterator[tuple[tuple[str, ...], os.stat_result]]:
    with os.scandir(dir_fd) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        if entry.name in excludes or entry.name.startswith(TEMP_PREFIX):
            continue  # our writes' temp files (a crash's leftovers included, until the next start)
        parts = (*base, entry.name)
        if parts in hidden:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue  # vanished while we looked
        if stat.S_ISDIR(st.st_mode):
            if parts < after and after[: len(parts)] != parts:
                continue  # the whole subtree sorts before the cursor
            yield parts, st
            try:
                child = os.open(entry.name, _DIR_FLAGS, dir_fd=dir_fd)
            except OSError:
                continue  # swapped for a symlink, or unreadable: do not enter
            try:
                yield from _walk(child, parts, after, excludes, hidden)
            finally:
                os.close(child)
        else:
            yield parts, st


def snapshot(
    root_fd: int,
    *,
    prefix: str | None,
    after: str | None,
    limit: int,
    include_dirs: bool,
    excludes: frozenset[str] = DEFAULT_EXCLUDES,
    hidden: frozenset[tuple[str, ...]] = frozenset(),
) -> CatalogPage:
    """One page of at most ``limit`` items sorted after ``after``, under the folder ``prefix``."""
    after_parts = check_path(after) if after else ()
    start_fd, opened = root_fd, False
    base: tuple[str, ...] = ()
    if prefix:
        base = check_path(prefix)
        fds = []
        try:
            current = root_fd
            for name in base:
                current = os.open(name, _DIR_FLAGS, dir_fd=current)
                fds.append(current)
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            raise mapped(exc, prefix) from exc
        for fd in fds[:-1]:
            os.close(fd)
        start_fd, opened = fds[-1], True
    items: list[CatalogItem] = []
    truncated = False
    try:
        for parts, st in _walk(start_fd, base, after_parts, excludes, hidden):
            if parts <= after_parts:
                continue
            kind = _kind(st.st_mode)
            if kind == "dir" and not include_dirs:
                continue
            if len(items) == limit:
                truncated = True
                break
            items.append(
                CatalogItem(
                    "/".join(parts),
                    kind,
                    st.st_size if kind == "file" else 0,
                    st.st_mtime_ns // 1_000_000,
                    revision_of(st),
                )
            )
    finally:
        if opened:
            os.close(start_fd)
    return CatalogPage(items, items[-1].path if truncated and items else None, truncated)
