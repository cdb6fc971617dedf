"""Import the original orchestrator's workspace list (``openwork-orchestrator-state.json``) once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from openwork.errors import OpenworkError, ValidationError
from openwork.logging import get_logger
from openwork.workspaces.original import CLI_VERSION_PREFIX
from openwork.workspaces.registry import Workspace, WorkspaceRegistry, validate_folder

__all__ = ["LEGACY_STATE_FILE", "import_legacy_state", "legacy_candidates"]

log = get_logger("openwork.workspaces")

LEGACY_STATE_FILE = "openwork-orchestrator-state.json"
_DONE_KEY = "legacy_import_done"
MAX_LEGACY_BYTES = 8 * 1024 * 1024


def legacy_candidates(data_dir: Path) -> list[Path]:
    """Our data dir first (users who pointed OPENWORK_DATA_DIR at the old one), then the original's default."""
    return [data_dir / LEGACY_STATE_FILE, Path.home() / ".openwork" / "openwork-orchestrator" / LEGACY_STATE_FILE]


def import_legacy_state(registry: WorkspaceRegistry, candidates: list[Path]) -> int:
    """Take over the workspaces listed by the first readable state file of the original; runs once per
    database. Ids, names, paths and the active workspace carry over (the ``ws-`` ids the original's clients
    stored keep working). A file we wrote ourselves (``cliVersion`` ``openwork-py/…``) is not an import.

    Entries whose folder is gone are skipped (and logged), never fatal. Returns how many were added.
    """
    if registry.meta(_DONE_KEY):
        return 0
    added = 0
    for path in candidates:
        state = _read(path)
        if state is None or str(state.get("cliVersion") or "").startswith(CLI_VERSION_PREFIX):
            continue
        entries = state.get("workspaces")
        for entry in entries if isinstance(entries, list) else []:
            record = _take_over(registry, entry) if isinstance(entry, dict) else None
            if record is None:
                continue
            added += 1
            if entry.get("id") == state.get("activeId") and not record.remote and registry.active_id() is None:
                registry.activate(record.id)
        log.info("workspaces.legacy_imported", source=str(path), added=added)
        break
    registry.set_meta(_DONE_KEY, "1")
    return added


def _text(entry: dict[str, Any], key: str) -> str | None:
    value = entry.get(key)
    return value if isinstance(value, str) and value.strip() else None


def _take_over(registry: WorkspaceRegistry, entry: dict[str, Any]) -> Workspace | None:
    name, daemon_id = _text(entry, "name"), _text(entry, "id")
    try:
        if entry.get("workspaceType") == "remote":
            base_url = _text(entry, "baseUrl")
            if base_url is None or not base_url.startswith(("http://", "https://")):
                raise ValidationError("a remote workspace without a baseUrl")
            record, created = registry.add_remote(base_url, _text(entry, "directory"), name, daemon_id=daemon_id)
        else:
            folder = validate_folder(_text(entry, "path") or "")
            record, created = registry.add(folder, name, daemon_id=daemon_id)
    except OpenworkError as exc:
        log.info("workspaces.legacy_skipped", path=str(entry.get("path")), reason=exc.message)
        return None
    return record if created else None


def _read(path: Path) -> dict[str, object] | None:
    try:
        if not path.is_file() or path.stat().st_size > MAX_LEGACY_BYTES:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        log.warning("workspaces.legacy_unreadable", path=str(path))
        return None
    return data if isinstance(data, dict) else None
