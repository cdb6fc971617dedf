"""The runtime control's restart: waits on the supervisor (no polling), rides out what the supervisor
recovers from, and names versions honestly."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from openwork.errors import SupervisorError
from openwork.runtime.control import _restart_until_running, version_of
from openwork.sidecars.resolver import ResolvedBinary
from openwork.supervisor.policy import RestartPolicy
from openwork.supervisor.service import Service
from openwork.supervisor.state import ServiceState
from tests.fakes import Behaviour, FakeClock, FakeWorld

pytestmark = pytest.mark.anyio


def _binary(version: str | None, reported: str | None = None) -> ResolvedBinary:
    return ResolvedBinary(
        component="opencode",
        path=Path("/opt/opencode"),
        source="downloaded",
        target="linux-x64",
        version=version,
        sha256=None,
        how="test",
        reported_version=reported,
    )


def test_version_of_names_the_reported_version_and_the_expected_one_when_they_differ() -> None:
    assert version_of(_binary("9.9.9"), "1.18.33") == "1.18.33 (expected 9.9.9)"
    assert version_of(_binary("9.9.9", reported="1.18.33")) == "1.18.33 (expected 9.9.9)"
    assert version_of(_binary("1.18.33"), "1.18.33") == "1.18.33"
    assert version_of(_binary("1.18.33")) == "1.18.33"
    assert version_of(_binary(None)) == "/opt/opencode"


def _service(world: FakeWorld) -> Service:
    return Service(
        name="opencode",
        driver=world,
        spawner=world,  # type: ignore[arg-type]
        clock=world.clock,
        policy=RestartPolicy(initial_delay=10, max_delay=10),
        strict=True,
    )


async def _drive(clock: FakeClock, task: asyncio.Future[None]) -> None:
    async with asyncio.timeout(10):
        while not task.done():
            clock.advance(0.25)
            for _ in range(10):
                await asyncio.sleep(0)


async def test_rollback_restart_in_backoff_is_not_ignored_and_rides_out_a_port_race() -> None:
    """The flake of issue 18: the restored build lost a port race while the supervisor was in its backoff."""
    clock = FakeClock(auto=False)
    broken = Behaviour(healthy=False, rc=1, lines=("broken build",))
    race = Behaviour(healthy=False, rc=1, lines=("ServeError",))
    world = FakeWorld(clock=clock, script=[Behaviour(runs_for=None), broken, race], default=Behaviour(runs_for=None))
    service = _service(world)
    starter = asyncio.ensure_future(service.start())
    await _drive(clock, starter)
    forward = asyncio.ensure_future(_restart_until_running(service, 30, max_failures=0))
    await _drive(clock, forward)
    with pytest.raises(SupervisorError, match="did not come up: exited with code 1 while starting"):
        forward.result()
    assert service.state is ServiceState.RESTART_SCHEDULED  # a 10 s backoff ahead
    started = clock.now()
    rollback = asyncio.ensure_future(_restart_until_running(service, 30, max_failures=None))
    await _drive(clock, rollback)
    rollback.result()
    assert service.state is ServiceState.RUNNING and len(world.handles) == 4
    assert clock.now() - started < 11  # the first backoff was cut short; only the race cost one
    await service.stop()
