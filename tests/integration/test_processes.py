"""Real child processes under the real spawner: termination, trees, floods, crash loops."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from pathlib import Path

import psutil
import pytest

from openwork.supervisor.clock import MonotonicClock
from openwork.supervisor.policy import RestartPolicy, RestartWindow
from openwork.supervisor.process import AsyncioSpawner, SpawnSpec
from openwork.supervisor.records import ChildRecords
from openwork.supervisor.service import Service
from openwork.supervisor.state import ServiceState
from tests.helpers import FIXTURES, free_port, pid_alive

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class ArgvDriver:
    """Runs a fixed argv; healthy as soon as it runs (the service checks liveness itself)."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = tuple(argv)

    async def after_exit(self) -> None:
        pass

    async def prepare(self) -> SpawnSpec:
        return SpawnSpec(name="fixture", argv=self.argv, env=dict(os.environ), cwd=Path.cwd())

    async def healthy(self) -> bool:
        return True

    def details(self) -> dict[str, object]:
        return {}


def service(
    argv: list[str],
    *,
    policy: RestartPolicy,
    lines: list[str] | None = None,
    records: ChildRecords | None = None,
    window: RestartWindow | None = None,
) -> Service:
    sink = lines if lines is not None else []
    return Service(
        name="fixture",
        driver=ArgvDriver(argv),
        spawner=AsyncioSpawner(records=records),
        clock=MonotonicClock(),
        policy=policy,
        fail_fast=False,
        poll_interval=0.01,
        on_line=lambda _svc, line, _stream: sink.append(line),
        window=window,
    )


async def wait_line(lines: list[str], prefix: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in lines:
            if line.startswith(prefix):
                return line
        await asyncio.sleep(0.02)
    raise AssertionError(f"no line starting with {prefix!r} within {timeout}s; got {lines[-5:]}")


async def test_child_ignoring_sigterm_is_killed_at_the_deadline() -> None:
    lines: list[str] = []
    svc = service(
        [sys.executable, str(FIXTURES / "ignore_sigterm.py")], policy=RestartPolicy(stop_timeout=1.0), lines=lines
    )
    await svc.start()
    await wait_line(lines, "ready")
    pid = svc.status().pid
    assert pid is not None
    began = time.monotonic()
    await asyncio.wait_for(svc.stop(), 30)  # a deadline for a hang, not a measurement
    # It was given the whole grace period: a lower bound, which a loaded machine can only exceed.
    # How soon after the deadline the SIGKILL lands depends on the machine's load, so it is not asserted;
    # that it landed is: the child ignores SIGTERM, only SIGKILL ends it.
    assert time.monotonic() - began >= 0.9
    assert not pid_alive(pid)
    assert svc.state is ServiceState.STOPPED


async def test_forked_grandchild_holding_a_port_dies_and_the_port_binds_again(tmp_path: Path) -> None:
    port = free_port()
    lines: list[str] = []
    records = ChildRecords(tmp_path / "children.json")
    svc = service(
        [sys.executable, str(FIXTURES / "fork_grandchild.py"), str(port)],
        policy=RestartPolicy(stop_timeout=1.0),
        lines=lines,
        records=records,
    )
    await svc.start()
    grandchild = int((await wait_line(lines, "grandchild ")).split()[1])
    assert pid_alive(grandchild)
    assert [r.pid for r in records.all()] == [svc.status().pid]
    await asyncio.wait_for(svc.stop(), 10)
    assert not pid_alive(grandchild)
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # the port is free again
    assert records.all() == []


async def test_flood_without_newline_does_not_grow_memory() -> None:
    lines: list[str] = []
    me = psutil.Process()
    before = me.memory_info().rss
    peak = before
    svc = service(
        [sys.executable, str(FIXTURES / "flood.py"), "50"],
        policy=RestartPolicy(max_failures=1000, initial_delay=5, max_delay=5),
        lines=lines,
    )
    await svc.start()
    deadline = time.monotonic() + 60
    while "flood done" not in lines and time.monotonic() < deadline:
        peak = max(peak, me.memory_info().rss)
        await asyncio.sleep(0.01)
    await svc.stop()
    assert "flood done" in lines
    assert len(lines[0]) <= 64 * 1024 + 20  # the 50 MB "line" was cut at 64 KiB
    assert peak - before < 64 * 1024 * 1024, f"grew {(peak - before) / 1e6:.1f} MB"


def _fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_200_crash_restart_cycles_leave_no_zombie_and_no_fd_growth() -> None:
    policy = RestartPolicy(initial_delay=0.001, max_delay=0.002, max_failures=10_000, stop_timeout=2.0)
    # Both budgets out of the way: this test is about 200 cycles, not about giving up.
    svc = service(["/bin/sh", "-c", "exit 3"], policy=policy, window=RestartWindow(max_failures=10_000))
    fds_before = _fd_count()
    await svc.start()
    deadline = time.monotonic() + 120
    while svc.status().restarts < 200 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await asyncio.wait_for(svc.stop(), 10)
    assert svc.status().restarts >= 200
    children = psutil.Process().children(recursive=True)
    assert [c for c in children if c.status() == psutil.STATUS_ZOMBIE] == []
    assert children == []
    assert _fd_count() <= fds_before + 3


async def test_stop_twice_and_concurrently_is_safe() -> None:
    svc = service([sys.executable, str(FIXTURES / "ignore_sigterm.py")], policy=RestartPolicy(stop_timeout=0.5))
    await svc.start()
    await asyncio.gather(svc.stop(), svc.stop())
    await svc.stop()
    assert svc.state is ServiceState.STOPPED
