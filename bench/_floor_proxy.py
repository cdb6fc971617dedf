"""The floor of a Python proxy on our stack, for bench/proxy.py: uvicorn (served as ours is, on a listener
made with IPPROTO_TCP so TCP_NODELAY applies) and one httpx.AsyncClient forwarding each request to opencode
as it comes (the bench sends GETs: no request body), answer streamed back. No auth, routing, policy or
pinning: what is left is the stack itself.

Run by the bench: UPSTREAM=<opencode url> UPSTREAM_USER=... UPSTREAM_PASSWORD=... python _floor_proxy.py
Prints its port, then serves until killed.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

import httpx
import uvicorn

_HOP = {"connection", "keep-alive", "transfer-encoding", "date", "host"}


def main() -> None:
    client = httpx.AsyncClient(
        base_url=os.environ["UPSTREAM"],
        auth=httpx.BasicAuth(os.environ["UPSTREAM_USER"], os.environ["UPSTREAM_PASSWORD"]),
        trust_env=False,
        timeout=30,
    )

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        query = scope["query_string"].decode()
        path = (scope.get("raw_path") or scope["path"].encode()).decode()  # as sent, still percent-encoded
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"] if k.decode().lower() not in _HOP]
        request = client.build_request(scope["method"], path + ("?" + query if query else ""), headers=headers)
        response = await client.send(request, stream=True)
        try:
            out = [(k.encode(), v.encode()) for k, v in response.headers.items() if k.lower() not in _HOP]
            await send({"type": "http.response.start", "status": response.status_code, "headers": out})
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    print(sock.getsockname()[1], flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="off", http="h11"))
    asyncio.run(server.serve(sockets=[sock]))


if __name__ == "__main__":
    main()
