"""The restart state machine driven by a fake clock and spawner: exact schedules, no sleeping."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from openwork.errors import GaveUp, StartTimeout
from openwork.supervisor.policy import RestartPolicy
from openwork.supervisor.service import Service
from openwork.supervisor.state import ServiceState, ServiceStatus
from tests.fakes import Behaviour, FakeClock, FakeWorld

pytestmark = pytest.mark.anyio


def make(
    world: FakeWorld, *, policy: RestartPolicy | None = None, fail_fast: bool = True
) -> tuple[Service, list[ServiceStatus]]:
    seen: list[ServiceStatus] = []
    service = Service(
        name="svc",
        driver=world,
        spawner=world,  # type: ignore[arg-type]
        clock=world.clock,
        policy=policy or RestartPolicy(),
        fail_fast=fail_fast,
        on_change=seen.append,
        strict=True,
    )
    return service, seen


def restart_delays(world: FakeWorld) -> list[float]:
    poll = 0.25
    return [s for s in world.clock.sleeps if s != poll]


async def test_crash_loop_follows_backoff_and_gives_up_after_ten() -> None:
    clock = FakeClock()
    world = FakeWorld(clock=clock, script=[Behaviour(healthy=True, runs_for=1.0)])  # then: never healthy
    world.default = Behaviour(healthy=True, runs_for=1.0)
    service, seen = make(world)
    await service.start()
    await asyncio.wait_for(service.gave_up.wait(), 5)
    assert restart_delays(world) == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert len(world.handles) == 10
    assert service.state is ServiceState.ERRORED
    assert isinstance(service.failure, GaveUp)
    states = [s.state for s in seen]
    assert ServiceState.RESTART_SCHEDULED in states and states[-1] is ServiceState.ERRORED
    await service.stop()
    assert service.state is ServiceState.ERRORED  # stop after giving up keeps the verdict


async def test_failure_count_resets_after_sixty_seconds_healthy() -> None:
    clock = FakeClock()
    script = [Behaviour(runs_for=1), Behaviour(runs_for=1), Behaviour(runs_for=61)] + [Behaviour(runs_for=1)] * 3
    world = FakeWorld(clock=clock, script=script, default=Behaviour(runs_for=None))
    service, _ = make(world)
    await service.start()
    await asyncio.wait_for(_until(lambda: len(world.handles) == 7), 5)
    # 1st, 2nd failure: 0.5, 1; the long run resets, so the next delays start again at 0.5.
    assert restart_delays(world) == [0.5, 1, 0.5, 1, 2, 4]
    await service.stop()
    assert service.state is ServiceState.STOPPED


async def test_stop_during_backoff_cancels_the_restart() -> None:
    clock = FakeClock(auto=False)
    world = FakeWorld(clock=clock, script=[Behaviour(runs_for=1)], default=Behaviour(runs_for=None))
    service, _ = make(world)
    await service.start()
    await asyncio.wait_for(_until(lambda: service.state is ServiceState.RESTART_SCHEDULED), 5)
    assert service.status().next_restart_in == 0.5
    await asyncio.wait_for(service.stop(), 5)
    assert service.state is ServiceState.STOPPED
    assert len(world.handles) == 1  # nothing spawned after the stop


async def test_first_start_failure_is_an_error_with_the_last_output() -> None:
    clock = FakeClock()
    world = FakeWorld(clock=clock, script=[Behaviour(healthy=False, rc=3, lines=("boom: bad config",))])
    service, _ = make(world)
    with pytest.raises(StartTimeout) as info:
        await service.start()
    assert "exited with code 3" in info.value.message
    assert len(world.handles) == 1


async def test_start_timeout_when_never_healthy() -> None:
    clock = FakeClock()
    world = FakeWorld(clock=clock, script=[Behaviour(healthy=False)])
    world.script[0].healthy = False
    world.default = Behaviour(healthy=False)

    async def never() -> bool:
        return False

    world.healthy = never  # type: ignore[method-assign]
    # a process that stays up but never answers health
    world.script = [Behaviour(healthy=True, runs_for=None)]
    service, _ = make(world, policy=RestartPolicy(start_timeout=10))
    with pytest.raises(StartTimeout) as info:
        await service.start()
    assert "not healthy within 10s" in info.value.message
    assert world.clock.sleeps.count(0.25) >= 39  # polled every 250 ms for 10 s
    assert world.handles[0].terminations >= 1


async def test_address_in_use_at_first_start_is_retried() -> None:
    clock = FakeClock()
    world = FakeWorld(
        clock=clock,
        script=[Behaviour(healthy=False, rc=1, lines=("Error: listen EADDRINUSE: address already in use",))],
        default=Behaviour(runs_for=None),
    )
    service, _ = make(world)
    await service.start()
    assert service.state is ServiceState.RUNNING
    assert len(world.handles) == 2
    await service.stop()


async def test_stop_is_idempotent_and_safe_before_start() -> None:
    world = FakeWorld(clock=FakeClock(), script=[], default=Behaviour(runs_for=None))
    service, _ = make(world)
    await service.stop()
    await service.stop()
    assert service.state is ServiceState.STOPPED


async def test_restart_request_is_not_counted_as_a_failure() -> None:
    world = FakeWorld(clock=FakeClock(), script=[], default=Behaviour(runs_for=None))
    service, _ = make(world)
    await service.start()
    await service.restart()
    await asyncio.wait_for(_until(lambda: len(world.handles) == 2 and service.state is ServiceState.RUNNING), 5)
    assert service.status().consecutive_failures == 0
    assert service.status().restarts == 1
    await service.stop()


async def _until(predicate: object) -> None:
    while not predicate():  # type: ignore[operator]
        await asyncio.sleep(0)


class _StuckFirstProbe(FakeWorld):
    """opencode's quirk: a request that arrives just before it serves is never answered."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.in_flight = 0
        self.max_in_flight = 0
        self.cancelled = 0
        self.calls = 0
        self.answer_after = 1  # probes after this many calls answer

    async def healthy(self) -> bool:
        self.calls += 1
        if self.calls > self.answer_after:
            return True
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.Event().wait()  # never answered
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1
        return False


async def test_a_stuck_probe_does_not_hold_up_the_next_one() -> None:
    world = _StuckFirstProbe(clock=FakeClock(), script=[Behaviour(healthy=True, runs_for=None)])
    service, _ = make(world)
    await asyncio.wait_for(service.start(), 5)
    assert service.state is ServiceState.RUNNING
    assert world.calls == 2 and world.cancelled == 1  # the stuck probe is abandoned, not leaked
    await service.stop()


async def test_probes_in_flight_are_bounded_and_the_start_deadline_holds() -> None:
    world = _StuckFirstProbe(clock=FakeClock(), script=[Behaviour(healthy=True, runs_for=None)])
    world.answer_after = 10_000
    service, _ = make(world)
    with pytest.raises(StartTimeout, match="not healthy within 10s"):
        await asyncio.wait_for(service.start(), 5)
    assert world.max_in_flight == 4
    assert world.in_flight == 0  # every stuck probe was cancelled when the attempt ended


async def test_a_port_lost_to_a_race_is_retried_even_on_the_first_start() -> None:
    # opencode 1.18 prints only "ServeError" when its port was taken after we checked it.
    clock = FakeClock()
    world = FakeWorld(
        clock=clock, script=[Behaviour(healthy=False, lines=("ServeError",)), Behaviour(healthy=True, runs_for=None)]
    )
    service, _ = make(world)
    await asyncio.wait_for(service.start(), 5)
    assert service.state is ServiceState.RUNNING and len(world.handles) == 2
    await service.stop()
