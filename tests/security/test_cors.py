"""CORS is off unless asked for; --cors ORIGIN answers preflights for that origin only, never allows
credentials, and lets that origin's token-carrying requests past the guard; "*" any origin."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from openwork.api import AppContext, create_app
from openwork.cli.serve import serve_cmd
from openwork.cli.serveconfig import server_config
from openwork.errors import ConfigError
from tests.apphelpers import make_context

pytestmark = pytest.mark.anyio

APP = "https://app.example"
EVIL = "https://evil.example"


async def _client(ctx: AppContext) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8787") as client:
        yield client


@pytest.fixture
async def listed(isolated_env: Path, workspace: Path) -> AsyncIterator[tuple[AppContext, httpx.AsyncClient]]:
    ctx = make_context(isolated_env, workspace, cors_origins=(APP,))
    async for client in _client(ctx):
        yield ctx, client


def _preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "origin": origin,
        "access-control-request-method": method,
        "access-control-request-headers": "authorization",
    }


async def test_a_listed_origin_gets_preflights_and_answers_without_credentials(
    listed: tuple[AppContext, httpx.AsyncClient],
) -> None:
    ctx, client = listed
    ok = await client.options("/tokens", headers=_preflight(APP))
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == APP
    assert "access-control-allow-credentials" not in ok.headers
    assert "authorization" in ok.headers["access-control-allow-headers"].lower()
    refused = await client.options("/tokens", headers=_preflight(EVIL))
    assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers

    auth = {"authorization": f"Bearer {ctx.credentials.client_token}"}
    listing = await client.get("/workspaces", headers={**auth, "origin": APP})
    assert listing.status_code == 200 and listing.headers["access-control-allow-origin"] == APP
    # A write from the listed origin passes the guard (with its token); from another it is refused.
    made = await client.post(
        "/workspaces/local", json={"folderPath": str(ctx.config.workspace)}, headers={**auth, "origin": APP}
    )
    assert made.status_code in (200, 201, 403), made.text  # 403 only for the host-only rule, never the Origin
    assert made.json().get("error", {}).get("message") != "Origin not allowed"
    evil = await client.post("/tokens", json={"scope": "viewer"}, headers={**auth, "origin": EVIL})
    assert evil.status_code == 403 and evil.json()["error"]["message"] == "Origin not allowed"
    assert "access-control-allow-origin" not in evil.headers


async def test_off_by_default(isolated_env: Path, workspace: Path) -> None:
    ctx = make_context(isolated_env, workspace)
    async for client in _client(ctx):
        pre = await client.options("/tokens", headers=_preflight(APP))
        assert "access-control-allow-origin" not in pre.headers
        answer = await client.get("/system/health", headers={"origin": APP})
        assert "access-control-allow-origin" not in answer.headers


async def test_any_origin_needs_a_token_still(isolated_env: Path, workspace: Path) -> None:
    ctx = make_context(isolated_env, workspace, cors_origins=("*",))
    async for client in _client(ctx):
        pre = await client.options("/tokens", headers=_preflight(EVIL))
        assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in pre.headers
        tokenless = await client.post("/tokens", json={"scope": "viewer"}, headers={"origin": EVIL})
        assert tokenless.status_code == 401
        host = {"x-openwork-host-token": ctx.credentials.host_token, "origin": EVIL}
        assert (await client.post("/tokens", json={"scope": "viewer"}, headers=host)).status_code == 201


def test_origins_are_validated_and_read_from_the_flag_or_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def origins(*args: str) -> tuple[str, ...]:
        argv = ["--workspace", str(tmp_path), "--data-dir", str(tmp_path / "d"), *args]
        return server_config(serve_cmd.make_context("serve", argv).params).cors_origins

    assert origins() == ()
    assert origins("--cors", f"{APP}/, http://localhost:5173") == (APP, "http://localhost:5173")
    monkeypatch.setenv("OPENWORK_CORS_ORIGINS", "*")
    assert origins() == ("*",)
    for bad in ("app.example", "https://app.example/path", "javascript:alert(1)"):
        with pytest.raises(ConfigError):
            origins("--cors", bad)
    result = CliRunner().invoke(serve_cmd, ["--workspace", str(tmp_path), "--cors", "nope"])
    assert result.exit_code != 0
