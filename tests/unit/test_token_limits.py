"""Minted tokens limited to workspaces: stored by workspace record, fail closed, never widened."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from openwork.auth.credentials import load_credentials
from openwork.auth.principal import Principal, authenticate
from openwork.auth.tokens import TokenService
from openwork.errors import ValidationError
from openwork.store.db import MIGRATIONS, Database
from openwork.workspaces.registry import WorkspaceRegistry


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return Database(tmp_path / "openwork.db")


@pytest.fixture
def registry(db: Database) -> WorkspaceRegistry:
    return WorkspaceRegistry(db)


@pytest.fixture
def tokens(db: Database) -> TokenService:
    return TokenService(db)


def _folder(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    return folder.resolve()


def _principal(tokens: TokenService, plaintext: str, data_dir: Path) -> Principal:
    return authenticate(
        authorization=f"Bearer {plaintext}",
        host_header_token=None,
        credentials=load_credentials(data_dir),
        tokens=tokens,
    )


def _count(db: Database, table: str) -> int:
    return int(db.query_one(f"SELECT count(*) FROM {table}")[0])  # type: ignore[index]


def test_an_unlimited_token_reaches_every_workspace(tokens: TokenService, isolated_env: Path) -> None:
    record, plaintext = tokens.mint(scope="owner", label="", ttl_seconds=None)
    assert record.workspace_ids is None and record.to_json()["workspaceIds"] is None
    principal = _principal(tokens, plaintext, isolated_env)
    assert principal.workspaces is None and principal.sees("ws_0123456789ab") and principal.is_global


def test_a_limited_token_carries_its_workspaces_into_the_principal(
    tokens: TokenService, registry: WorkspaceRegistry, tmp_path: Path, isolated_env: Path
) -> None:
    a, _ = registry.add(_folder(tmp_path, "a"))
    b, _ = registry.add(_folder(tmp_path, "b"))
    record, plaintext = tokens.mint(scope="owner", label="ci", ttl_seconds=None, workspace_ids=[a.id, a.id])
    assert record.workspace_ids == frozenset({a.id}) and record.to_json()["workspaceIds"] == [a.id]
    [listed] = tokens.list()
    assert listed.workspace_ids == frozenset({a.id})
    principal = _principal(tokens, plaintext, isolated_env)
    assert principal.workspaces == frozenset({a.id})
    assert principal.sees(a.id) and not principal.sees(b.id)
    assert not principal.is_global  # an owner limited to some workspaces does not span them


def test_an_unknown_workspace_refuses_the_mint_and_stores_nothing(
    tokens: TokenService, registry: WorkspaceRegistry, db: Database, tmp_path: Path
) -> None:
    a, _ = registry.add(_folder(tmp_path, "a"))
    with pytest.raises(ValidationError, match="ws_000000000000"):
        tokens.mint(scope="viewer", label="", ttl_seconds=None, workspace_ids=[a.id, "ws_000000000000"])
    assert _count(db, "tokens") == 0 and _count(db, "token_workspaces") == 0
    assert tokens.list() == []


def test_removing_its_workspaces_leaves_a_token_seeing_nothing_never_everything(
    tokens: TokenService, registry: WorkspaceRegistry, db: Database, tmp_path: Path, isolated_env: Path
) -> None:
    a, _ = registry.add(_folder(tmp_path, "a"))
    _, plaintext = tokens.mint(scope="owner", label="", ttl_seconds=None, workspace_ids=[a.id])
    registry.remove(a.id)
    assert _count(db, "token_workspaces") == 0
    principal = _principal(tokens, plaintext, isolated_env)
    assert principal.workspaces == frozenset()
    assert not principal.sees(a.id) and not principal.is_global
    # Registering the same folder again (same id) does not bring the limitation back by accident.
    registry.add(Path(a.path))
    assert _principal(tokens, plaintext, isolated_env).workspaces == frozenset()
    [listed] = tokens.list()
    assert listed.to_json()["workspaceIds"] == []


def test_a_workspace_id_change_carries_the_limitation_along(
    tokens: TokenService, registry: WorkspaceRegistry, db: Database, tmp_path: Path, isolated_env: Path
) -> None:
    a, _ = registry.add(_folder(tmp_path, "a"))
    _, plaintext = tokens.mint(scope="viewer", label="", ttl_seconds=None, workspace_ids=[a.id])
    with db.transaction() as conn:  # what a change of the id scheme does to the record
        conn.execute("UPDATE workspaces SET id = ? WHERE id = ?", ("ws_aaaaaaaaaaaa", a.id))
    principal = _principal(tokens, plaintext, isolated_env)
    assert principal.workspaces == frozenset({"ws_aaaaaaaaaaaa"})
    assert not principal.sees(a.id)


def test_revoking_keeps_the_limitation_and_deleting_the_token_drops_it(
    tokens: TokenService, registry: WorkspaceRegistry, db: Database, tmp_path: Path
) -> None:
    a, _ = registry.add(_folder(tmp_path, "a"))
    record, _ = tokens.mint(scope="viewer", label="", ttl_seconds=None, workspace_ids=[a.id])
    assert tokens.revoke(record.id).workspace_ids == frozenset({a.id})
    with db.transaction() as conn:
        conn.execute("DELETE FROM tokens WHERE id = ?", (record.id,))
    assert _count(db, "token_workspaces") == 0


def test_tokens_minted_before_the_upgrade_stay_unlimited(tmp_path: Path, isolated_env: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:3]:  # the schema before workspace limits existed
        conn.executescript(script)
    conn.execute(
        "INSERT INTO tokens (id, label, scope, token_hash, created_at) VALUES ('tok_old', '', 'viewer', ?, 0)",
        ("0" * 64,),
    )
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()
    db = Database(path)
    assert db.schema_version == len(MIGRATIONS)
    [old] = TokenService(db).list()
    assert old.id == "tok_old" and old.workspace_ids is None
