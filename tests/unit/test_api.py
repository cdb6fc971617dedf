"""The HTTP surface in-process: envelope, auth, tokens, OpenAPI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from openwork.api import AppContext
from tests.apphelpers import asgi_client, clock_of

pytestmark = pytest.mark.anyio


async def test_health_needs_no_auth_and_uses_the_envelope(ctx: AppContext) -> None:
    async with asgi_client(ctx) as client:
        r = await client.get("/system/health", headers={"x-request-id": "abc-123"})
    assert r.status_code == 200
    body = r.json()
    assert body["ok"] is True and body["meta"]["requestId"] == "abc-123"
    assert set(body["meta"]) == {"requestId", "timestamp"} and body["meta"]["timestamp"].endswith("Z")
    data = body["data"]
    assert (data["status"], data["version"], data["degraded"]) == ("ok", ctx.version, [])
    # Unauthenticated: the database is described, but where the server keeps its state is not told.
    assert data["database"]["path"] == "" and data["database"]["workingDirectory"] == ""
    assert data["database"]["bootstrapMode"] == "fresh" and data["database"]["status"] == "ready"
    assert str(ctx.config.data_dir) not in r.text
    assert r.headers["x-request-id"] == "abc-123"


async def test_status_reports_services(ctx: AppContext) -> None:
    async with asgi_client(ctx, token=ctx.credentials.client_token) as client:
        r = await client.get("/system/status")
    data = r.json()["data"]
    assert data["healthy"] is False
    assert data["services"][0]["name"] == "opencode" and data["services"][0]["state"] == "pending"
    assert data["server"]["workspace"] == str(ctx.config.workspace)


async def test_opencode_health_shape(ctx: AppContext) -> None:
    async with asgi_client(ctx, token=ctx.credentials.host_token) as client:
        r = await client.get("/system/opencode/health")
    data = r.json()["data"]
    for key in ("state", "pid", "version", "lastExit", "healthy", "binary", "restarts"):
        assert key in data
    assert data["healthy"] is False


async def test_unknown_route_is_a_json_404(ctx: AppContext) -> None:
    async with asgi_client(ctx) as client:
        r = await client.get("/nope")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found" and r.json()["ok"] is False
    assert r.json()["error"]["requestId"] == r.headers["x-request-id"]


async def test_mint_list_use_and_revoke_a_token(ctx: AppContext) -> None:
    async with asgi_client(ctx, token=ctx.credentials.host_token) as host:
        r = await host.post("/tokens", json={"scope": "viewer", "label": "phone", "ttlSeconds": 60})
        assert r.status_code == 201
        minted = r.json()["data"]
        assert minted["token"].startswith("owt_") and minted["scope"] == "viewer"
        listed = (await host.get("/tokens")).json()["data"]
        assert [t["id"] for t in listed] == [minted["id"]] and "token" not in listed[0]
        async with asgi_client(ctx, token=minted["token"]) as viewer:
            assert (await viewer.get("/system/status")).status_code == 200
            assert (await viewer.get("/tokens")).status_code == 403
            assert (await host.delete(f"/tokens/{minted['id']}")).status_code == 200
            assert (await viewer.get("/system/status")).status_code == 401
        again = await host.delete(f"/tokens/{minted['id']}")  # idempotent: still revoked
        assert again.status_code == 200 and again.json()["data"]["revokedAt"] is not None
        assert (await host.delete("/tokens/tok_missing")).status_code == 404


async def test_minted_token_expires(ctx: AppContext) -> None:
    _, plaintext = ctx.tokens.mint(scope="collaborator", label="", ttl_seconds=1)
    clock_of(ctx).advance(2)  # past its 1 s lifetime
    async with asgi_client(ctx, token=plaintext) as client:
        assert (await client.get("/system/status")).status_code == 401


async def test_only_a_hash_of_a_minted_token_is_stored(ctx: AppContext) -> None:
    _, plaintext = ctx.tokens.mint(scope="owner", label="x", ttl_seconds=None)
    ctx.tokens._db.close()
    raw = b"".join(p.read_bytes() for p in ctx.config.dirs.db.parent.glob("openwork.db*"))
    assert b"owner" in raw  # the row is there...
    assert plaintext.encode() not in raw


async def test_openapi_lists_the_routes(ctx: AppContext) -> None:
    async with asgi_client(ctx) as client:
        spec = (await client.get("/openapi.json")).json()
    for path in ("/system/health", "/system/status", "/system/opencode/health", "/system/events", "/tokens"):
        assert path in spec["paths"]


def _data_schema(spec: dict[str, Any], path: str, method: str, status: str = "200") -> dict[str, Any]:
    """The schema of ``data`` in the success envelope of one operation, with ``$ref``s resolved."""

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = spec["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
        return node

    response = spec["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
    return resolve(resolve(response)["properties"]["data"])


async def test_openapi_names_real_models_for_the_answers(ctx: AppContext) -> None:
    async with asgi_client(ctx) as client:
        spec = (await client.get("/openapi.json")).json()
    workspaces = _data_schema(spec, "/workspaces", "get")
    assert workspaces.get("additionalProperties") is not True
    assert set(workspaces["properties"]) == {"items", "workspaces", "activeId"}
    workspace = spec["components"]["schemas"]["WorkspaceInfo"]
    assert {"displayName", "folderPath", "workspaceType", "createdAt"} <= set(workspace["properties"])
    status = _data_schema(spec, "/system/status", "get")
    assert {"healthy", "server", "services", "auth", "runtime"} <= set(status["properties"])
    minted = _data_schema(spec, "/tokens", "post", "201")
    assert {"token", "workspaceIds", "expiresAt"} <= set(minted["properties"])
    session = _data_schema(spec, "/workspaces/{ws_id}/file-sessions", "post", "201")
    assert set(session["properties"]) == {"session"}
    approvals = _data_schema(spec, "/approvals", "get")
    assert {"mode", "timeoutMs", "items", "recent"} == set(approvals["properties"])
    assert "bytes" in spec["components"]["schemas"]["ApprovalInfo"]["properties"]


async def test_typed_answers_keep_the_wire_keys(ctx: AppContext, tmp_path: Path) -> None:
    folder = tmp_path / "typed"
    folder.mkdir()
    async with asgi_client(ctx, token=ctx.credentials.host_token) as client:
        added = (await client.post("/workspaces/local", json={"folderPath": str(folder)})).json()["data"]
        minted = (await client.post("/tokens", json={"scope": "viewer"})).json()["data"]
        session = (await client.post(f"/workspaces/{added['workspace']['id']}/file-sessions", json={})).json()["data"]
    assert set(added) == {"workspace", "created"}
    assert list(added["workspace"]) == [
        "id", "name", "displayName", "slug", "path", "folderPath", "workspaceType", "kind", "baseUrl", "directory",
        "active", "hidden", "preset", "status", "backend", "runtime", "server", "createdAt", "updatedAt",
    ]  # fmt: skip
    assert added["workspace"]["workspaceType"] == "local"
    assert set(minted) == {"id", "label", "scope", "createdAt", "expiresAt", "revokedAt", "workspaceIds", "token"}
    assert minted["workspaceIds"] is None and minted["expiresAt"] is None
    assert set(session["session"]) == {"id", "sessionId", "workspaceId", "write", "createdAt", "expiresAt"}


async def test_v2_diagnostics_are_the_log_and_only_the_host_reads_them(ctx: AppContext) -> None:
    ctx.stack.hub.child_line("opencode", "listening on a port", stream="stdout")
    ctx.stack.hub.child_line("opencode", "warning: something", stream="stderr")
    async with asgi_client(ctx, token=ctx.credentials.host_token) as host:
        diagnostics = (await host.get("/system/opencode/health")).json()["data"]["diagnostics"]
        minted = (await host.post("/tokens", json={"scope": "owner"})).json()["data"]["token"]
        summary = (await host.get("/system/runtime/summary")).json()["data"]
    assert diagnostics["stdout"] == ["listening on a port"] and diagnostics["stderr"] == ["warning: something"]
    assert [line["stream"] for line in diagnostics["combined"]] == ["stdout", "stderr"]
    assert diagnostics["totalLines"] == 2 and diagnostics["truncated"] is False
    assert summary["opencode"]["diagnostics"]["totalLines"] == 2
    async with asgi_client(ctx, token=minted) as client:
        health = (await client.get("/system/opencode/health")).json()["data"]
        summary = (await client.get("/system/runtime/summary")).json()["data"]
    assert health["diagnostics"]["combined"] == [] and summary["opencode"]["diagnostics"]["combined"] == []
