"""File sessions never reach what the server owns or trusts, never leak an fd on a strange path, and keep
config that runs code read-only for tokens that may not change it."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openwork.api import AppContext
from openwork.auth.principal import Principal, Role
from tests.apphelpers import asgi_client, make_context

SUPPRESS = [HealthCheck.function_scoped_fixture]
WHO = {
    "host": Principal(role=Role.HOST, subject="host", scope="owner"),
    "client": Principal(role=Role.CLIENT, subject="client", scope="owner"),
    "owner": Principal(role=Role.CLIENT, subject="tok_owner", scope="owner"),
    "collaborator": Principal(role=Role.CLIENT, subject="tok_collab", scope="collaborator"),
}


def tree_digest(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture
def owned(isolated_env: Path, workspace: Path) -> Iterator[AppContext]:
    """A server whose data dir lives inside its workspace (``--data-dir W/.owdata``)."""
    ctx = make_context(workspace / ".owdata", workspace, approval_mode="auto")
    ctx.registry.add(workspace.resolve())
    (workspace / "deep" / "er").mkdir(parents=True)
    yield ctx
    ctx.files.close()


def _session(ctx: AppContext, who: str) -> str:
    (record,) = ctx.registry.list()
    return ctx.files.create_session(WHO[who], record.id, ttl=600, write=True).id


SPELLINGS = st.sampled_from(
    [".owdata", ".owdata/secrets/host-token", "./.owdata/secrets/host-token", ".owdata//openwork.db", ".owdata/x/new"]
)


@settings(max_examples=60, deadline=None, suppress_health_check=SUPPRESS)
@given(who=st.sampled_from(sorted(WHO)), path=SPELLINGS, op=st.sampled_from(["read", "write", "mkdir", "delete", "mv"]))
def test_the_data_dir_is_unreadable_and_unwritable_whatever_the_token(
    owned: AppContext, who: str, path: str, op: str
) -> None:
    data = owned.config.data_dir
    before = tree_digest(data)
    sid = _session(owned, who)
    caller = WHO[who]

    async def run() -> list[dict[str, Any]]:
        files = owned.files
        if op == "read":
            return list((await files.read_batch(caller, sid, [path]))["items"])
        if op == "write":
            return list((await files.write_batch(caller, sid, [{"path": path, "contentBase64": "eA=="}]))["items"])
        item: dict[str, Any] = {"type": "rename" if op == "mv" else op, "path": path, "recursive": True}
        if op == "mv":
            item = {"type": "rename", "path": path, "to": "stolen"}
        out = list((await files.operations(caller, sid, [item]))["items"])
        if op == "mv":  # and the other way round: moving something over the data dir
            item = {"type": "rename", "path": "deep", "to": path}
            out += (await files.operations(caller, sid, [item]))["items"]
        return out

    for result in asyncio.run(run()):
        assert result["ok"] is False and result["error"]["code"] == "forbidden", result
    assert tree_digest(data) == before
    assert not (data.parent / "stolen").exists()


def test_a_folder_holding_the_data_dir_cannot_be_deleted_or_moved(isolated_env: Path, workspace: Path) -> None:
    ctx = make_context(workspace / "a" / "b" / "data", workspace, approval_mode="auto")
    ctx.registry.add(workspace.resolve())
    sid = _session(ctx, "client")
    ops = [{"type": "delete", "path": "a", "recursive": True}, {"type": "rename", "path": "a/b", "to": "c"}]
    items = asyncio.run(ctx.files.operations(WHO["client"], sid, ops))["items"]
    assert [i["error"]["code"] for i in items] == ["forbidden", "forbidden"]
    assert (workspace / "a" / "b" / "data" / "secrets").is_dir()


@pytest.mark.anyio
async def test_the_catalog_never_lists_the_data_dir(owned: AppContext) -> None:
    sid = _session(owned, "client")
    page = await owned.files.catalog(WHO["client"], sid, prefix=None, after=None, limit=None, include_dirs=True)
    assert page["items"] and not [i for i in page["items"] if i["path"].startswith(".owdata")]


# -- fds: a strange path is that path's error, and every fd is closed -----------------------------------


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _fds_under(folder: Path) -> list[str]:
    """Open fds of this process on files or folders inside ``folder`` (others come and go with GC and
    event loops; what a read batch must not leak is its own)."""
    root = os.path.realpath(folder)
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target == root or target.startswith(root + os.sep):
            found.append(target)
    return sorted(found)


@pytest.fixture
def strange(isolated_env: Path, workspace: Path) -> Iterator[AppContext]:
    ctx = make_context(isolated_env, workspace, approval_mode="auto")
    ctx.registry.add(workspace.resolve())
    (workspace / "sub" / "deeper").mkdir(parents=True)
    (workspace / "a.txt").write_text("a")
    os.mkfifo(workspace / "fifo")
    (workspace / "link").symlink_to("/etc/hostname")
    yield ctx
    ctx.files.close()


KINDS = st.sampled_from(["sub/deeper", "sub", "a.txt", "fifo", "link", "missing", "a.txt/x", "../x", ""])


@settings(max_examples=80, deadline=None, suppress_health_check=SUPPRESS)
@given(paths=st.lists(KINDS, min_size=1, max_size=6))
def test_read_batch_answers_per_path_and_closes_every_fd(strange: AppContext, paths: list[str]) -> None:
    sid = _session(strange, "client")
    asyncio.run(strange.files.read_batch(WHO["client"], sid, ["a.txt"]))  # warm-up: lazy watchers, threads
    before = _fds_under(strange.config.workspace)
    items = asyncio.run(strange.files.read_batch(WHO["client"], sid, paths))["items"]
    assert len(items) == len(paths)
    for path, item in zip(paths, items, strict=True):
        assert item["ok"] is (path == "a.txt"), item
    assert _fds_under(strange.config.workspace) == before


@pytest.mark.anyio
async def test_a_folder_in_read_batch_is_a_per_path_error_over_http(strange: AppContext) -> None:
    async with asgi_client(strange, token=strange.credentials.client_token) as client:
        ws = (await client.get("/workspaces")).json()["data"]["items"][0]["id"]
        sid = (await client.post(f"/workspaces/{ws}/file-sessions", json={"ttlSeconds": 60})).json()["data"]["session"][
            "id"
        ]
        before = _open_fds()
        for _ in range(50):
            r = await client.post(
                f"/workspaces/{ws}/file-sessions/{sid}/read-batch", json={"paths": ["sub/deeper", "a.txt"]}
            )
            assert r.status_code == 200, r.text
            first, second = r.json()["data"]["items"]
            assert first["ok"] is False and second["ok"] is True
        assert _open_fds() <= before + 2  # the client's own connection may come and go


# -- config that runs code ------------------------------------------------------------------------------

CODE = [".git/hooks/pre-commit", ".git/config", "opencode.json", "opencode.jsonc", ".opencode/tool/x.ts"]


@pytest.mark.parametrize(
    ("mode", "who", "allow", "writable"),
    [
        ("auto", "collaborator", False, False),
        ("manual", "owner", False, False),
        ("auto", "owner", False, True),
        ("manual", "client", False, True),
        ("auto", "collaborator", True, True),
    ],
)
def test_config_that_runs_code_is_read_only_for_tokens_that_may_not_change_it(
    isolated_env: Path, workspace: Path, mode: str, who: str, allow: bool, writable: bool
) -> None:
    ctx = make_context(isolated_env, workspace, approval_mode=mode, files_allow_config_write=allow)
    ctx.registry.add(workspace.resolve())
    (workspace / ".opencode").mkdir()
    sid = _session(ctx, who)

    async def run() -> list[dict[str, Any]]:
        if mode == "manual":  # the host answers every approval at once

            async def approve() -> None:
                while True:
                    for pending in ctx.approvals.pending():
                        ctx.approvals.reply(pending.id, "allow")
                    await asyncio.sleep(0.01)

            helper = asyncio.ensure_future(approve())
        try:
            writes = [{"path": p, "contentBase64": "eA=="} for p in CODE]
            out = list((await ctx.files.write_batch(WHO[who], sid, writes))["items"])
            out += (await ctx.files.operations(WHO[who], sid, [{"type": "delete", "path": ".opencode"}]))["items"]
            return out
        finally:
            if mode == "manual":
                helper.cancel()

    items = asyncio.run(run())
    codes = [i["ok"] if writable else i["error"]["code"] for i in items[:-1]]
    assert codes == ([True] * len(CODE) if writable else ["forbidden"] * len(CODE)), items
    assert (workspace / "opencode.json").exists() is writable


def test_the_env_store_is_out_of_reach_of_file_sessions(
    isolated_env: Path, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even where a user keeps it inside a workspace: its values are API keys."""
    store = workspace / "cfg" / "env.json"
    store.parent.mkdir()
    store.write_text('{"MY_KEY": "sk-secret-in-the-store"}')
    monkeypatch.setenv("OPENWORK_ENV_STORE", str(store))
    ctx = make_context(isolated_env, workspace, approval_mode="auto")
    ctx.registry.add(workspace.resolve())
    try:
        sid = _session(ctx, "host")
        caller = WHO["host"]

        async def run() -> list[dict[str, Any]]:
            files = ctx.files
            out = list((await files.read_batch(caller, sid, ["cfg/env.json"]))["items"])
            out += (await files.write_batch(caller, sid, [{"path": "cfg/env.json", "contentBase64": "e30="}]))["items"]
            out += (await files.operations(caller, sid, [{"type": "delete", "path": "cfg/env.json"}]))["items"]
            return out

        results = asyncio.run(run())
    finally:
        ctx.files.close()
    assert results and all(r["ok"] is False and r["error"]["code"] == "forbidden" for r in results), results
    assert store.read_text() == '{"MY_KEY": "sk-secret-in-the-store"}'
