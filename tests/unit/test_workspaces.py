"""The workspace registry, its ids and input rules, and the import of the original's state file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from openwork.errors import NotFoundError, ValidationError
from openwork.store.db import Database
from openwork.workspaces.legacy import import_legacy_state
from openwork.workspaces.registry import WorkspaceRegistry, validate_folder, workspace_id
from tests.helpers import folder


@pytest.fixture
def registry(tmp_path: Path) -> WorkspaceRegistry:
    return WorkspaceRegistry(Database(tmp_path / "db.sqlite"))


def test_ids_are_stable_and_depend_only_on_the_path(tmp_path: Path) -> None:
    assert workspace_id(Path("/srv/a")) == workspace_id(Path("/srv/a/")) == workspace_id(Path("/srv//a"))
    assert workspace_id(Path("/srv/a")) != workspace_id(Path("/srv/b"))
    assert workspace_id(Path("/srv/a")).startswith("ws_") and len(workspace_id(Path("/srv/a"))) == 15
    assert workspace_id(Path("/srv/a")) == "ws_" + __import__("hashlib").sha256(b"/srv/a").hexdigest()[:12]


def test_add_is_idempotent_and_survives_a_reopen(tmp_path: Path) -> None:
    db_path = tmp_path / "db.sqlite"
    a = folder(tmp_path, "a")
    first = WorkspaceRegistry(Database(db_path))
    record, created = first.add(a, "Alpha")
    again, created_again = first.add(a, "Other name")
    assert created and not created_again and again == record
    reopened = WorkspaceRegistry(Database(db_path))
    assert [w.id for w in reopened.list()] == [record.id] and reopened.get(record.id).name == "Alpha"


def test_rename_activate_remove(tmp_path: Path, registry: WorkspaceRegistry) -> None:
    a, _ = registry.add(folder(tmp_path, "a"))
    b, _ = registry.add(folder(tmp_path, "b"))
    assert registry.rename(a.id, "  New  ").name == "New"
    registry.activate(b.id)
    assert [w.active for w in registry.list()] == [False, True]
    registry.remove(b.id)
    assert registry.active_id() is None and [w.id for w in registry.list()] == [a.id]
    assert (tmp_path / "b").is_dir()  # the folder itself is untouched
    with pytest.raises(NotFoundError):
        registry.get(b.id)


@pytest.mark.parametrize("bad_id", ["", "ws_", "x" * 1000, "ws_🙂🙂🙂", "../ws_0123456789ab", "ws_0123456789ab"])
def test_unknown_or_malformed_ids_are_not_found(registry: WorkspaceRegistry, bad_id: str) -> None:
    with pytest.raises(NotFoundError):
        registry.get(bad_id)


def test_folder_rules(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("x")
    real = folder(tmp_path, "real")
    (tmp_path / "link").symlink_to(real)
    cases = {
        str(tmp_path / "missing"): "does not exist",
        str(tmp_path / "file.txt"): "is not a folder",
        f"{real}/../real": "must not contain '..'",
        "relative/path": "must be absolute",
        "/tmp/a\x00b": "control characters",
        "/" + "a" * 5000: "longer than",
        "   ": "empty",
    }
    for raw, message in cases.items():
        with pytest.raises(ValidationError, match=message):
            validate_folder(raw)
    assert validate_folder(str(tmp_path / "link")) == real  # resolved with realpath


def test_legacy_state_is_imported_once(tmp_path: Path, registry: WorkspaceRegistry) -> None:
    a, b = folder(tmp_path, "a"), folder(tmp_path, "b")
    state = tmp_path / "openwork-orchestrator-state.json"
    state.write_text(
        json.dumps(
            {
                "activeId": "old-b",
                "workspaces": [
                    {"id": "old-a", "name": "Alpha", "path": str(a)},
                    {"id": "old-b", "name": "Beta", "path": str(b)},
                    {"id": "old-c", "name": "Gone", "path": str(tmp_path / "gone")},
                    "junk",
                ],
            }
        )
    )
    assert import_legacy_state(registry, [tmp_path / "absent.json", state]) == 2
    names = {w.name: w for w in registry.list()}
    assert set(names) == {"Alpha", "Beta"} and names["Beta"].active
    registry.remove(names["Alpha"].id)
    assert import_legacy_state(registry, [state]) == 0  # once per database: a removal sticks
    assert {w.name for w in registry.list()} == {"Beta"}


def test_unreadable_legacy_state_is_not_fatal(tmp_path: Path, registry: WorkspaceRegistry) -> None:
    state = tmp_path / "openwork-orchestrator-state.json"
    state.write_text("{not json")
    assert import_legacy_state(registry, [state]) == 0
    assert registry.list() == []
