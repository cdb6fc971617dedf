"""The dashboard's only window on the stack: the server's HTTP API, with the host token."""

from __future__ import annotations

from typing import Any

import httpx

from openwork.errors import OpenworkError

__all__ = ["ApiSource"]

SOURCE_TIMEOUT = 5.0  # one dashboard refresh call
SHUTDOWN_TIMEOUT = 15.0


class ApiSource:
    def __init__(self, url: str, host_token: str, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url = url
        self._client = httpx.AsyncClient(
            base_url=url,
            headers={"x-openwork-host-token": host_token},
            timeout=SOURCE_TIMEOUT,
            trust_env=False,
            transport=transport,
        )

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._client.request(method, path, **kwargs)
        except (httpx.HTTPError, RuntimeError) as exc:  # RuntimeError: the client was closed while leaving
            raise OpenworkError(f"cannot reach {self.url}: {type(exc).__name__}") from exc
        body = response.json()
        if not body.get("ok"):
            raise OpenworkError(str(body.get("error", {}).get("message", response.status_code)))
        return body["data"]

    async def status(self) -> dict[str, Any]:
        return dict(await self._call("GET", "/system/status"))

    async def workspaces(self) -> dict[str, Any]:
        return dict(await self._call("GET", "/workspaces"))

    async def approvals(self) -> dict[str, Any]:
        return dict(await self._call("GET", "/approvals"))

    async def logs(self, after: int) -> dict[str, Any]:
        return dict(await self._call("GET", "/system/logs", params={"after": after, "limit": 2000}))

    async def restart(self, service: str) -> None:
        await self._call("POST", f"/system/services/{service}/restart", timeout=30.0)

    async def switch(self, ws_id: str) -> None:
        await self._call("POST", f"/workspaces/{ws_id}/activate", timeout=30.0)

    async def dispose(self, ws_id: str) -> None:
        await self._call("POST", f"/workspaces/{ws_id}/dispose", timeout=30.0)

    async def reply(self, approval_id: str, reply: str) -> None:
        await self._call("POST", f"/approvals/{approval_id}", json={"reply": reply})

    async def shutdown(self) -> None:
        await self._call("POST", "/shutdown", timeout=SHUTDOWN_TIMEOUT)

    async def aclose(self) -> None:
        await self._client.aclose()
