"""Hostile requests against the in-process app: auth, Host/Origin, bodies."""

from __future__ import annotations

import json
import stat

import pytest

from openwork.api import AppContext
from openwork.auth.credentials import token_paths
from tests.apphelpers import asgi_client

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": ""},
        {"authorization": "Bearer "},
        {"authorization": "Basic dXNlcjpwYXNz"},
        {"authorization": "Token abc"},
        {"authorization": "Bearer wrong-token-value"},
        {"authorization": "Bearer " + "A" * 100_000},
        {"x-openwork-host-token": "nope"},
        {"x-openwork-host-token": ""},
    ],
)
async def test_bad_credentials_are_401_without_echo(ctx: AppContext, headers: dict[str, str]) -> None:
    async with asgi_client(ctx) as client:
        r = await client.get("/system/status", headers=headers)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"
    for value in headers.values():
        secret = value.split(" ", 1)[-1]
        if len(secret) > 6:
            assert secret not in r.text


@pytest.mark.parametrize("route", [("GET", "/tokens"), ("POST", "/tokens"), ("DELETE", "/tokens/tok_1")])
async def test_client_token_on_host_routes_is_403(ctx: AppContext, route: tuple[str, str]) -> None:
    async with asgi_client(ctx, token=ctx.credentials.client_token) as client:
        r = await client.request(route[0], route[1], json={"scope": "viewer"} if route[0] == "POST" else None)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


async def test_host_token_header_is_accepted(ctx: AppContext) -> None:
    async with asgi_client(ctx) as client:
        r = await client.get("/tokens", headers={"x-openwork-host-token": ctx.credentials.host_token})
    assert r.status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8787", "127.0.0.1.evil.example", "", "localhost.:1"])
async def test_foreign_host_header_is_rejected(ctx: AppContext, host: str) -> None:
    async with asgi_client(ctx) as client:
        r = await client.get("/system/health", headers={"host": host})
    assert r.status_code in (400, 421)
    assert r.json()["ok"] is False


@pytest.mark.parametrize("host", ["127.0.0.1:8787", "localhost:1234", "[::1]:8787", "localhost"])
async def test_loopback_host_headers_pass(ctx: AppContext, host: str) -> None:
    async with asgi_client(ctx) as client:
        r = await client.get("/system/health", headers={"host": host})
    assert r.status_code == 200


async def test_foreign_origin_on_unsafe_method_is_403(ctx: AppContext) -> None:
    async with asgi_client(ctx, token=ctx.credentials.host_token) as client:
        bad = await client.post("/tokens", json={"scope": "viewer"}, headers={"origin": "https://evil.example"})
        good = await client.post("/tokens", json={"scope": "viewer"}, headers={"origin": "http://localhost:5173"})
        read = await client.get("/tokens", headers={"origin": "https://evil.example"})
    assert bad.status_code == 403
    assert good.status_code == 201
    assert read.status_code == 200 and "access-control-allow-origin" not in read.headers


async def test_oversized_body_is_413(ctx: AppContext) -> None:
    body = json.dumps({"scope": "viewer", "label": "x" * (2 * 1024 * 1024)})
    async with asgi_client(ctx, token=ctx.credentials.host_token) as client:
        r = await client.post("/tokens", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    assert ctx.tokens.list() == []


async def test_chunked_oversized_body_is_413(ctx: AppContext) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(40):
            yield b"x" * 65536

    async with asgi_client(ctx, token=ctx.credentials.host_token) as client:
        r = await client.post("/tokens", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b'{"scope": "viewer", "extra": 1}',
        b'{"scope": "root"}',
        b'{"scope": "viewer", "ttlSeconds": -5}',
        b"[" * 5000 + b"]" * 5000,
        b'{"scope": "viewer", "label": ' + b'{"a":' * 3000 + b"1" + b"}" * 3000 + b"}",
        b"\xff\xfe\x00",
    ],
)
async def test_malformed_bodies_are_4xx_and_write_nothing(ctx: AppContext, content: bytes) -> None:
    async with asgi_client(ctx, token=ctx.credentials.host_token) as client:
        r = await client.post("/tokens", content=content, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["ok"] is False
    assert ctx.tokens.list() == []


async def test_token_files_are_private(ctx: AppContext) -> None:
    for path in token_paths(ctx.config.data_dir):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(token_paths(ctx.config.data_dir)[0].parent.stat().st_mode) == 0o700


async def test_error_bodies_never_contain_secrets(ctx: AppContext) -> None:
    secrets = ctx.credentials.values()
    async with asgi_client(ctx, token=ctx.credentials.client_token) as client:
        responses = [
            await client.get("/tokens"),
            await client.get("/nope"),
            await client.post("/tokens", content=b"{bad"),
            await client.delete("/tokens/" + ctx.credentials.host_token),
        ]
    for r in responses:
        assert r.status_code >= 400
        assert not any(s in r.text for s in secrets)
