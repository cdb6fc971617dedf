"""JSON request bodies parsed in a worker thread when they are large, so a 40 MiB write batch does not stop
every other request (the health check included) while it is decoded.

FastAPI's documented extension point for this is a custom ``APIRoute`` whose handler receives a
``Request`` subclass ("Custom Request and APIRoute class"); FastAPI parses a JSON body by awaiting
``request.json()``, which the subclass moves off the loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

__all__ = ["OFF_LOOP_JSON_BYTES", "OffLoopJSONRoute"]

OFF_LOOP_JSON_BYTES = 256 * 1024  # smaller bodies parse faster than a thread hand-off costs


class _OffLoopJSONRequest(Request):
    async def json(self) -> Any:
        body = await self.body()
        if len(body) <= OFF_LOOP_JSON_BYTES:
            return json.loads(body)
        return await asyncio.to_thread(json.loads, body)


class OffLoopJSONRoute(APIRoute):
    """A route whose large JSON body is parsed in a worker thread."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            return await handler(_OffLoopJSONRequest(request.scope, request.receive))

        return route_handler
