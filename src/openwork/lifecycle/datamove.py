"""The one-time move of openwork-py's old default data dir (the platform's, e.g. ``~/.local/share/
openwork-orchestrator``) to the original's default (``~/.openwork/openwork-orchestrator``).

Only when the data dir was not given (no ``--data-dir``, no ``OPENWORK_DATA_DIR``), only when the old one
holds our database and the new one does not, and never while a server runs from the old one. Entries the
new folder already has (the original's own state file, its sidecar cache) are left where they are: nothing
is overwritten, nothing is deleted.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from openwork.errors import Held
from openwork.logging import get_logger
from openwork.paths import DataDir, platform_data_dir
from openwork.store.lock import DataDirLock

__all__ = ["MOVED_NOTE", "migrate_old_default"]

log = get_logger("openwork.server")

MOVED_NOTE = "MOVED-TO-OPENWORK-DIR.txt"


def migrate_old_default(new: Path, *, old: Path | None = None) -> list[str]:
    """Move the old default's entries into ``new``; the names moved (empty: nothing to do)."""
    source = DataDir(old or platform_data_dir())
    target = DataDir(new)
    if source.root.resolve() == target.root.resolve() or not source.db.is_file() or target.db.exists():
        return []
    lock = DataDirLock(source.lock)
    try:
        if source.lock.parent.is_dir():
            lock.acquire()  # a server of the old version still runs there: leave it alone
    except Held:
        log.warning("data_dir.not_migrated", old=str(source.root), reason="a server is running from it")
        return []
    try:
        target.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        moved = []
        for entry in sorted(source.root.iterdir()):
            if entry.name == MOVED_NOTE or (target.root / entry.name).exists():
                continue
            shutil.move(entry, target.root / entry.name)
            moved.append(entry.name)
        (source.root / MOVED_NOTE).write_text(f"openwork-py moved this data dir to {target.root}\n", encoding="utf-8")
    finally:
        lock.release()
    log.info(
        "data_dir.migrated",
        old=str(source.root),
        new=str(target.root),
        moved=moved,
        message=f"moved openwork-py's data from {source.root} to {target.root} (the original's default)",
    )
    return moved
