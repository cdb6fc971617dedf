"""Import the original orchestrator's workspace list (``openwork-orchestrator-state.json``) once."""

from __future__ import annotations

import json
from pathlib import Path

import structlog

from openwork.errors import OpenworkError
from openwork.workspaces.registry import WorkspaceRegistry, validate_folder

__all__ = ["LEGACY_STATE_FILE", "import_legacy_state", "legacy_candidates"]

log = structlog.get_logger("openwork.workspaces")

LEGACY_STATE_FILE = "openwork-orchestrator-state.json"
_DONE_KEY = "legacy_import_done"
MAX_LEGACY_BYTES = 8 * 1024 * 1024


def legacy_candidates(data_dir: Path) -> list[Path]:
    """Our data dir first (users who pointed OPENWORK_DATA_DIR at the old one), then the original's default."""
    return [data_dir / LEGACY_STATE_FILE, Path.home() / ".openwork" / "openwork-orchestrator" / LEGACY_STATE_FILE]


def import_legacy_state(registry: WorkspaceRegistry, candidates: list[Path]) -> int:
    """Register the workspaces listed by the first readable state file; runs once per database.

    Entries whose folder is gone are skipped (and logged), never fatal. Returns how many were added.
    """
    if registry.meta(_DONE_KEY):
        return 0
    added = 0
    for path in candidates:
        state = _read(path)
        if state is None:
            continue
        active_path: str | None = None
        entries = state.get("workspaces")
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                continue
            try:
                folder = validate_folder(entry["path"])
            except OpenworkError as exc:
                log.info("workspaces.legacy_skipped", path=entry["path"], reason=exc.message)
                continue
            name = entry.get("name") if isinstance(entry.get("name"), str) else None
            try:
                record, created = registry.add(folder, name)
            except OpenworkError:
                record, created = registry.add(folder)
            added += int(created)
            if entry.get("id") == state.get("activeId"):
                active_path = record.id
        if active_path and registry.active_id() is None:
            registry.activate(active_path)
        log.info("workspaces.legacy_imported", source=str(path), added=added)
        break
    registry.set_meta(_DONE_KEY, "1")
    return added


def _read(path: Path) -> dict[str, object] | None:
    try:
        if not path.is_file() or path.stat().st_size > MAX_LEGACY_BYTES:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        log.warning("workspaces.legacy_unreadable", path=str(path))
        return None
    return data if isinstance(data, dict) else None
