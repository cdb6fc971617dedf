"""``--check`` / ``--check-events``: prove the running stack works end to end, then exit."""

from __future__ import annotations

import json

import httpx

from openwork.api.context import AppContext
from openwork.logging import get_logger
from openwork.runtime.loopback import no_tls
from openwork.runtime.stack import Stack

__all__ = ["CHECK_TIMEOUT", "run_checks"]

log = get_logger("openwork.check")

CHECK_TIMEOUT = 10.0  # each check request / first event


async def _first_sse_data(client: httpx.AsyncClient, url: str, **kwargs: object) -> dict[str, object]:
    async with client.stream("GET", url, **kwargs) as response:  # type: ignore[arg-type]
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                parsed = json.loads(line[5:].strip())
                return parsed if isinstance(parsed, dict) else {"data": parsed}
    raise RuntimeError(f"{url} ended without an event")


async def run_checks(ctx: AppContext, stack: Stack, *, events: bool) -> bool:
    """Returns True when every check passed; logs each result as an event."""
    results: list[tuple[str, bool, str]] = []
    bearer = {"authorization": f"Bearer {ctx.credentials.client_token}"}
    opencode = stack.driver.url or ""
    directory = {"directory": stack.container_path(str(ctx.config.workspace))}
    timeout = httpx.Timeout(CHECK_TIMEOUT)
    async with httpx.AsyncClient(timeout=timeout, trust_env=False, verify=no_tls()) as client:

        async def check(name: str, coro: object) -> None:
            try:
                detail = await coro  # type: ignore[misc]
                results.append((name, True, str(detail)))
            except Exception as exc:  # a failed check is reported, never a traceback
                results.append((name, False, f"{type(exc).__name__}: {exc}"))

        async def server_status() -> str:
            r = await client.get(ctx.url + "/system/status", headers=bearer)
            r.raise_for_status()
            if not r.json()["data"]["healthy"]:
                raise RuntimeError("server reports unhealthy")
            return "healthy"

        async def create_session() -> str:
            r = await client.post(opencode + "/session", params=directory, json={}, auth=stack.driver.auth)
            r.raise_for_status()
            return f"session {r.json().get('id')}"

        async def server_events() -> str:
            first = await _first_sse_data(client, ctx.url + "/system/events", headers=bearer)
            return f"first event has {sorted(first)}"

        async def opencode_events() -> str:
            first = await _first_sse_data(client, opencode + "/event", params=directory, auth=stack.driver.auth)
            return f"first opencode event {first.get('type')}"

        await check("server.status", server_status())
        await check("opencode.session", create_session())
        if events:
            await check("server.events", server_events())
            await check("opencode.events", opencode_events())
    for name, passed, detail in results:
        (log.info if passed else log.error)("check.result", check=name, passed=passed, detail=detail)
    return all(passed for _, passed, _ in results)
