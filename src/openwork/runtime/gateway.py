"""The server's own client for opencode: credentials added here, the workspace directory injected here.

Routes never see opencode's password; they ask the gateway for a directory-scoped request.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpx

from openwork.errors import SupervisorError
from openwork.runtime.loopback import no_tls
from openwork.runtime.opencode import OpencodeDriver

__all__ = [
    "EVENTS_READ_TIMEOUT",
    "GATEWAY_CONNECT_TIMEOUT",
    "GATEWAY_MAX_CONNECTIONS",
    "GATEWAY_READ_TIMEOUT",
    "OpencodeGateway",
]

GATEWAY_CONNECT_TIMEOUT = 5.0
GATEWAY_READ_TIMEOUT = 300.0  # opencode answers a prompt only when the model is done
GATEWAY_MAX_CONNECTIONS = 200  # open connections to opencode at once (each relay holds one)
EVENTS_READ_TIMEOUT = 30.0  # opencode sends a heartbeat every 10 s on /event
DIRECTORY_HEADER = "x-opencode-directory"


class OpencodeGateway:
    def __init__(self, driver: OpencodeDriver, is_running: Any, directory_map: Any = None) -> None:
        self._driver = driver
        self._map = directory_map or (lambda path: path)  # sandbox: host folder -> the path inside
        self._is_running = is_running  # () -> bool: the supervisor's view
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(GATEWAY_READ_TIMEOUT, connect=GATEWAY_CONNECT_TIMEOUT),
            auth=driver.auth,
            trust_env=False,
            limits=httpx.Limits(max_connections=GATEWAY_MAX_CONNECTIONS, max_keepalive_connections=20),
            verify=no_tls(),
        )

    def opencode_path(self, host_path: str) -> str:
        """``host_path`` as opencode sees it (sandbox mode mounts the workspace elsewhere)."""
        return str(self._map(host_path))

    def _base(self) -> str:
        url = self._driver.url
        if url is None or not self._is_running():
            raise SupervisorError("opencode is not running right now; try again in a moment")
        return url

    def build(
        self,
        method: str,
        path: str,
        directory: str,
        *,
        params: Iterable[tuple[str, str]] = (),
        headers: Iterable[tuple[str, str]] = (),
        content: AsyncIterator[bytes] | bytes | None = None,
        json_body: Any = None,
        read_timeout: float = GATEWAY_READ_TIMEOUT,
    ) -> httpx.Request:
        # The workspace decides the directory: whatever the caller sent for it is replaced.
        directory = self._map(directory)
        pairs: list[tuple[str, str | int | float | bool | None]] = [(k, v) for k, v in params if k != "directory"]
        query = httpx.QueryParams([*pairs, ("directory", directory)])
        header_list = [(k, v) for k, v in headers if k.lower() != DIRECTORY_HEADER] + [(DIRECTORY_HEADER, directory)]
        extensions = {"timeout": httpx.Timeout(read_timeout, connect=GATEWAY_CONNECT_TIMEOUT).as_dict()}
        return self._client.build_request(
            method,
            self._base() + "/" + path.lstrip("/"),
            params=query,
            headers=header_list,
            content=content,
            json=json_body,
            extensions=extensions,
        )

    def websocket_target(self, request: httpx.Request) -> tuple[str, list[tuple[str, str]]]:
        """The ``ws://`` URL and headers (opencode's credentials included) of a request built by ``build``:
        how the WebSocket proxy opens the same, pinned request as an upgrade."""
        auth = self._client.auth
        if auth is not None:
            request = next(auth.sync_auth_flow(request))  # adds the Authorization header, nothing else
        url = str(request.url)
        target = "ws://" + url.removeprefix("http://") if url.startswith("http://") else url
        keep = {"authorization", DIRECTORY_HEADER}  # the websockets client writes the handshake's own headers
        return target, [(k, v) for k, v in request.headers.items() if k.lower() in keep]

    async def send(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        try:
            return await self._client.send(request, stream=stream)
        except httpx.TimeoutException as exc:
            raise SupervisorError(f"opencode did not answer in time ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise SupervisorError(f"cannot reach opencode: {type(exc).__name__}") from exc

    async def call(self, method: str, path: str, directory: str, *, json_body: Any = None) -> Any:
        """A small JSON call (warm, dispose); a non-2xx answer is a bad gateway."""
        response = await self.send(self.build(method, path, directory, json_body=json_body, read_timeout=30.0))
        if response.status_code >= 300:
            raise SupervisorError(f"opencode answered {response.status_code} to {method} /{path.lstrip('/')}")
        try:
            return response.json()
        except ValueError:
            return None

    async def events(self, directory: str) -> AsyncIterator[dict[str, Any]]:
        """opencode's SSE for ``directory`` as ``{type, properties}`` dicts; ends when opencode does."""
        request = self.build("GET", "/event", directory, read_timeout=EVENTS_READ_TIMEOUT)
        response = await self.send(request, stream=True)
        try:
            if response.status_code != 200:
                raise SupervisorError(f"opencode answered {response.status_code} to its event stream")
            data: list[str] = []
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    data.append(line[5:].lstrip())
                elif line == "" and data:
                    payload = "\n".join(data)
                    data = []
                    try:
                        event = json.loads(payload)
                    except ValueError:
                        continue
                    if isinstance(event, dict) and isinstance(event.get("type"), str):
                        props = event.get("properties")
                        yield {"type": event["type"], "properties": props if isinstance(props, dict) else {}}
        except httpx.TimeoutException as exc:
            raise SupervisorError("opencode's event stream went silent") from exc
        except httpx.HTTPError as exc:
            raise SupervisorError(f"opencode's event stream broke: {type(exc).__name__}") from exc
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()
