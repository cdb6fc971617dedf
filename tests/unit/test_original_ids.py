"""Both id schemes, lookups by id, path or name, remote workspaces, the schema step that adds the original's
ids to an existing database, the take-over of an original state file, and the move of the old default dir."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from openwork.errors import ConflictError, NotFoundError, ValidationError
from openwork.lifecycle.datamove import MOVED_NOTE, migrate_old_default
from openwork.store.db import MIGRATIONS, Database
from openwork.workspaces.legacy import import_legacy_state
from openwork.workspaces.original import DaemonWorkspace
from openwork.workspaces.registry import ENCODED_SLASH, WorkspaceRegistry
from tests.helpers import folder


def sha1_id(key: str) -> str:
    return "ws-" + hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:12]


@pytest.fixture
def registry(tmp_path: Path) -> WorkspaceRegistry:
    return WorkspaceRegistry(Database(tmp_path / "db.sqlite"))


def test_every_workspace_answers_to_both_ids_a_path_and_a_unique_name(
    tmp_path: Path, registry: WorkspaceRegistry
) -> None:
    a = folder(tmp_path, "a")
    record, _ = registry.add(a, "Alpha")
    assert record.daemon_id == sha1_id(str(a))
    for ref in (
        record.id,
        record.daemon_id,
        str(a),
        str(a) + "/",
        "Alpha",
        ENCODED_SLASH + str(a)[1:].replace("/", ENCODED_SLASH),
    ):
        assert registry.lookup(ref).id == record.id, ref
    assert registry.get(record.daemon_id).id == record.id
    with pytest.raises(NotFoundError):
        registry.get("Alpha")  # get: ids only
    other, _ = registry.add(folder(tmp_path, "b"), "Alpha")
    with pytest.raises(ConflictError, match="2 workspaces are named 'Alpha'"):
        registry.lookup("Alpha")
    # A limited caller counts only what it sees: no 409 tells it of a workspace outside its set.
    assert registry.lookup("Alpha", lambda ws_id: ws_id == other.id).id == other.id
    with pytest.raises(NotFoundError):
        registry.lookup("Alpha", lambda ws_id: False)
    assert DaemonWorkspace.of(record).entry() == {
        "id": record.daemon_id,
        "name": "Alpha",
        "path": str(a),
        "workspaceType": "local",
        "createdAt": round(record.created_at * 1000),
        "lastUsedAt": round(record.created_at * 1000),
    }


def test_remote_workspaces_are_listed_not_served(registry: WorkspaceRegistry) -> None:
    record, created = registry.add_remote("http://far.example:4096", "/srv/x", None)
    assert created and record.remote and record.name == "http://far.example:4096"
    assert record.daemon_id == sha1_id("http://far.example:4096::/srv/x")
    assert registry.add_remote("http://far.example:4096", None, "n")[0].daemon_id == sha1_id("http://far.example:4096")
    with pytest.raises(ConflictError, match="remote workspaces are not served yet"):
        registry.activate(record.id)
    assert DaemonWorkspace.of(record).entry()["path"] == "/srv/x"
    # listed to every reader and written to the state file: no credentials in it
    bad = ("http://user:secret@far.example", "http://:secret@far.example", "ftp://far.example", "http://")
    # and what urlsplit itself refuses (an unclosed IPv6 bracket, a port that is no number), control characters
    bad += ("https://a[b", "http://far.example:port", "http://far\x17.example")
    for url in bad:
        with pytest.raises(ValidationError):
            registry.add_remote(url, None, None)


def test_an_existing_database_gets_the_original_ids(tmp_path: Path) -> None:
    """A database of the previous schema: the step adds the columns, the registry fills the ids."""
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:4]:
        conn.executescript(script)
    conn.execute("PRAGMA user_version = 4")
    conn.execute("INSERT INTO workspaces VALUES ('ws_000000000000', '/srv/old', 'old', 1.0, 1.0)")
    conn.commit()
    conn.close()
    registry = WorkspaceRegistry(Database(path))
    assert registry.get("ws_000000000000").daemon_id == sha1_id("/srv/old")
    assert registry.lookup(sha1_id("/srv/old")).name == "old"


def test_an_original_state_file_is_taken_over_with_its_ids(tmp_path: Path, registry: WorkspaceRegistry) -> None:
    a, b = folder(tmp_path, "a"), folder(tmp_path, "b")
    state = {
        "version": 1,
        "cliVersion": "0.18.1",
        "activeId": "ws-bbbbbbbbbbbb",
        "workspaces": [
            {"id": "ws-aaaaaaaaaaaa", "name": "alpha", "path": str(a), "workspaceType": "local", "createdAt": 1},
            {"id": "ws-bbbbbbbbbbbb", "name": "beta", "path": str(b), "workspaceType": "local", "createdAt": 2},
            {
                "id": "ws-cccccccccccc",
                "name": "far",
                "path": "",
                "workspaceType": "remote",
                "baseUrl": "https://x.example",
            },
            {"id": "ws-dddddddddddd", "name": "gone", "path": str(tmp_path / "gone"), "workspaceType": "local"},
        ],
    }
    file = tmp_path / "openwork-orchestrator-state.json"
    file.write_text(json.dumps(state))
    assert import_legacy_state(registry, [file]) == 3
    assert {w.daemon_id: w.name for w in registry.list()} == {
        "ws-aaaaaaaaaaaa": "alpha",
        "ws-bbbbbbbbbbbb": "beta",
        "ws-cccccccccccc": "far",
    }
    assert registry.get(registry.active_id() or "").daemon_id == "ws-bbbbbbbbbbbb"


def test_a_state_file_we_wrote_is_not_an_import(tmp_path: Path, registry: WorkspaceRegistry) -> None:
    a = folder(tmp_path, "a")
    file = tmp_path / "openwork-orchestrator-state.json"
    entry = {"id": "ws-aaaaaaaaaaaa", "name": "a", "path": str(a), "workspaceType": "local"}
    file.write_text(json.dumps({"cliVersion": "openwork-py/0.1.0", "workspaces": [entry]}))
    assert import_legacy_state(registry, [file]) == 0 and registry.list() == []


def test_the_old_default_data_dir_moves_once_and_overwrites_nothing(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    (old / "secrets").mkdir(parents=True)
    (old / "openwork.db").write_text("db")
    (old / "secrets" / "host-token").write_text("t")
    (new / "sidecars").mkdir(parents=True)
    (old / "sidecars").mkdir()
    (new / "openwork-orchestrator-state.json").write_text("{}")
    (old / "openwork-orchestrator-state.json").write_text("ours")
    assert migrate_old_default(new, old=old) == ["openwork.db", "secrets"]
    assert (new / "openwork.db").read_text() == "db" and (new / "secrets" / "host-token").read_text() == "t"
    assert (new / "openwork-orchestrator-state.json").read_text() == "{}"  # the original's, untouched
    assert (old / "sidecars").is_dir() and (old / MOVED_NOTE).is_file()
    assert migrate_old_default(new, old=old) == []  # once
