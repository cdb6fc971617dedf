"""A real child that stops answering (SIGSTOP) is declared hung, woken, killed and replaced, and its
whole group is gone: the liveness path with real processes and a real HTTP probe, no opencode."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

import httpx
import pytest

from openwork.logging import capture_logs
from openwork.supervisor.clock import MonotonicClock
from openwork.supervisor.policy import Liveness, RestartPolicy
from openwork.supervisor.process import AsyncioSpawner, SpawnSpec
from openwork.supervisor.service import HUNG_REASON, Service
from openwork.supervisor.state import ServiceState
from tests.helpers import free_port, group_members, pid_alive

pytestmark = pytest.mark.anyio

# Serves 200 on every GET, and starts a grandchild in its group (a stopped group must die whole).
_SERVER = """
import http.server, subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"{}")
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""
_PROBE_TIMEOUT = 0.5  # one HTTP probe


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class _HttpDriver:
    def __init__(self) -> None:
        self.port = 0
        self.client = httpx.AsyncClient(trust_env=False, timeout=_PROBE_TIMEOUT)

    async def after_exit(self) -> None:
        pass

    async def prepare(self) -> SpawnSpec:
        self.port = free_port()
        argv = (sys.executable, "-c", _SERVER, str(self.port))
        return SpawnSpec(name="fixture", argv=argv, env=dict(os.environ), cwd=Path.cwd())

    async def healthy(self) -> bool:
        try:
            return (await self.client.get(f"http://127.0.0.1:{self.port}/")).status_code == 200
        except httpx.HTTPError:
            return False

    def details(self) -> dict[str, object]:
        return {"port": self.port}


async def test_a_stopped_child_is_declared_hung_killed_as_a_group_and_replaced() -> None:
    driver = _HttpDriver()
    svc = Service(
        name="fixture",
        driver=driver,
        spawner=AsyncioSpawner(),
        clock=MonotonicClock(),
        policy=RestartPolicy(initial_delay=0.05, max_delay=0.1, stop_timeout=2.0),
        liveness=Liveness(interval=0.5, failures=3, timeout=2.0),
        strict=True,
    )
    try:
        await asyncio.wait_for(svc.start(), 30)
        first = svc.status().pid
        assert first is not None
        with capture_logs() as events:
            os.killpg(first, signal.SIGSTOP)
            # A deadline for a hang, not a measurement: 3 probes (0.5 s apart, 0.5 s each), kill, restart.
            status = await svc.wait_running(after_pid=first, timeout=60)
        hung = [e for e in events if e["event"] == "service.hung"]
        assert len(hung) == 1 and hung[0]["pid"] == first
        assert status.last_exit is not None and status.last_exit.reason == HUNG_REASON
        assert status.last_exit.signal_name == "SIGKILL"
        assert status.consecutive_failures == 1
        states = [e["state"] for e in events if e["event"] == "service.state"]
        assert states[:4] == ["hung", "crashed", "restart_scheduled", "starting"]
        assert not pid_alive(first) and group_members(first) == []  # the grandchild went with it
    finally:
        with contextlib.suppress(ProcessLookupError, TypeError, NameError):
            os.killpg(first, signal.SIGCONT)
        await svc.stop()
        await driver.client.aclose()
    assert svc.state is ServiceState.STOPPED
