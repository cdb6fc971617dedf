"""A child started before its supervisor (``openwork.lifecycle.launch``) is adopted by the real spawner: its output,
its exit code, its whole tree on stop; and nothing is left when no supervisor ever takes it."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from openwork.supervisor.clock import MonotonicClock
from openwork.supervisor.policy import RestartPolicy
from openwork.supervisor.process import AsyncioSpawner
from openwork.supervisor.records import ChildRecords
from openwork.supervisor.service import Service
from openwork.supervisor.spawn import EarlyChild, SpawnSpec, start_child
from openwork.supervisor.state import ServiceState
from tests.helpers import FIXTURES, free_port, pid_alive, wait_for

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def spec_for(*args: str) -> SpawnSpec:
    return SpawnSpec(name="fixture", argv=(sys.executable, *args), env=dict(os.environ), cwd=Path.cwd())


def early(spec: SpawnSpec) -> EarlyChild:
    return EarlyChild(spec=spec, popen=start_child(spec), port=0)


class FixedDriver:
    def __init__(self, spec: SpawnSpec) -> None:
        self.spec = spec

    async def prepare(self) -> SpawnSpec:
        return self.spec

    async def healthy(self) -> bool:
        return True

    def details(self) -> dict[str, object]:
        return {}


def service(spawner: AsyncioSpawner, spec: SpawnSpec, lines: list[str], policy: RestartPolicy) -> Service:
    return Service(
        name="fixture",
        driver=FixedDriver(spec),
        spawner=spawner,
        clock=MonotonicClock(),
        policy=policy,
        fail_fast=False,
        poll_interval=0.01,
        on_line=lambda _svc, line, _stream: lines.append(line),
    )


async def until(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"condition not met within {timeout}s")


async def test_adopted_child_is_the_first_run_and_its_tree_dies_on_stop(tmp_path: Path) -> None:
    port = free_port()
    spec = spec_for(str(FIXTURES / "fork_grandchild.py"), str(port))
    child = early(spec)
    records = ChildRecords(tmp_path / "children.json")
    lines: list[str] = []
    svc = service(AsyncioSpawner(records=records, adopt=child), spec, lines, RestartPolicy(stop_timeout=1.0))
    await svc.start()
    assert svc.status().pid == child.popen.pid  # adopted, not a second process
    assert [r.pid for r in records.all()] == [child.popen.pid]
    await until(lambda: any(line.startswith("grandchild ") for line in lines))  # output written before adoption
    grandchild = int(next(line for line in lines if line.startswith("grandchild ")).split()[1])
    await asyncio.wait_for(svc.stop(), 10)
    assert not pid_alive(child.popen.pid) and not pid_alive(grandchild)
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
    assert records.all() == []


async def test_adopted_child_exit_code_reaches_the_supervisor_and_it_restarts() -> None:
    spec = spec_for("-c", "print('bye', flush=True); raise SystemExit(7)")
    child = early(spec)
    lines: list[str] = []
    policy = RestartPolicy(initial_delay=0.01, max_delay=0.02, max_failures=1000, stop_timeout=1.0)
    svc = service(AsyncioSpawner(adopt=child), spec, lines, policy)
    await svc.start()
    await until(lambda: svc.status().restarts >= 2)  # later runs are spawned afresh
    last = svc.status().last_exit
    await asyncio.wait_for(svc.stop(), 10)
    assert last is not None and last.code == 7
    assert child.popen.returncode == 7
    assert lines.count("bye") >= 2
    assert svc.state is ServiceState.STOPPED


async def test_a_child_started_for_other_argv_is_killed_and_a_fresh_one_runs() -> None:
    stale = early(spec_for(str(FIXTURES / "ignore_sigterm.py")))
    wanted = spec_for("-c", "import time; print('fresh', flush=True); time.sleep(60)")
    lines: list[str] = []
    svc = service(AsyncioSpawner(adopt=stale), wanted, lines, RestartPolicy(stop_timeout=1.0))
    await svc.start()
    assert stale.popen.returncode is not None  # killed and reaped, even though it ignores SIGTERM
    assert svc.status().pid != stale.popen.pid
    await until(lambda: "fresh" in lines)
    await asyncio.wait_for(svc.stop(), 10)


def test_discard_kills_a_child_nobody_adopted() -> None:
    child = early(spec_for(str(FIXTURES / "ignore_sigterm.py")))
    spawner = AsyncioSpawner(adopt=child)
    spawner.discard()
    spawner.discard()  # idempotent
    assert child.popen.returncode is not None
    assert not pid_alive(child.popen.pid)


def test_an_early_child_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    # The parent-death signal is set for early children too: SIGKILL the starter, the child goes.
    pid_file = tmp_path / "pid"
    code = (
        "import os, sys, time; from pathlib import Path;"
        "from openwork.supervisor.spawn import SpawnSpec, start_child;"
        f"p = start_child(SpawnSpec(name='x', argv=(sys.executable, {str(FIXTURES / 'ignore_sigterm.py')!r}),"
        " env=dict(os.environ), cwd=Path.cwd()));"
        f"Path({str(pid_file)!r}).write_text(str(p.pid)); time.sleep(60)"
    )
    starter = subprocess.Popen([sys.executable, "-c", code])
    try:
        child = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), timeout=20, what="the early child"))
        assert pid_alive(child)
        starter.kill()
        starter.wait(timeout=10)
        wait_for(lambda: not pid_alive(child), timeout=10, what="the early child to die with its starter")
    finally:
        starter.kill()
        starter.wait(timeout=10)
