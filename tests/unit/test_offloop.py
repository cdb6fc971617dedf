"""A large JSON body is parsed in a worker thread, a small one on the loop (the thread hand-off costs more)."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from openwork.api import offloop

pytestmark = pytest.mark.anyio


async def test_large_bodies_parse_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[str] = []
    real_loads = json.loads

    def recording_loads(data: Any) -> Any:
        threads.append(threading.current_thread().name)
        return real_loads(data)

    monkeypatch.setattr(offloop.json, "loads", recording_loads)
    router = APIRouter(route_class=offloop.OffLoopJSONRoute)

    @router.post("/echo")
    async def echo(body: dict[str, Any]) -> int:
        return len(body["blob"])

    app = FastAPI()
    app.include_router(router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        small = await client.post("/echo", json={"blob": "x" * 10})
        large = await client.post("/echo", json={"blob": "x" * (offloop.OFF_LOOP_JSON_BYTES * 2)})
        broken = await client.post("/echo", content=b"{" * 300_000, headers={"content-type": "application/json"})
    assert small.json() == 10 and large.json() == offloop.OFF_LOOP_JSON_BYTES * 2
    assert broken.status_code == 422
    main = threading.main_thread().name
    assert threads[0] == main and threads[1] != main and threads[2] != main
