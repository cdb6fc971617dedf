"""The transition table, requests in every state, the windowed budget, liveness and ``wait_running``,
on a fake clock and a fake spawner: no processes, no sleeping."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from openwork.errors import ConfigError, GaveUp, StartTimeout, SupervisorError
from openwork.logging import capture_logs
from openwork.supervisor.policy import Liveness, RestartPolicy, RestartWindow
from openwork.supervisor.service import HUNG_REASON, RestartOutcome, Service
from openwork.supervisor.state import (
    TRANSITIONS,
    IllegalTransition,
    ServiceState,
    ServiceStatus,
    V2Status,
    is_legal,
    v2_status,
)
from tests.fakes import Behaviour, FakeClock, FakeWorld

pytestmark = pytest.mark.anyio
S = ServiceState


def make(
    world: FakeWorld,
    *,
    policy: RestartPolicy | None = None,
    liveness: Liveness | None = None,
    window: RestartWindow | None = None,
    strict: bool = True,
) -> tuple[Service, list[ServiceStatus]]:
    seen: list[ServiceStatus] = []
    service = Service(
        name="svc",
        driver=world,
        spawner=world,  # type: ignore[arg-type]
        clock=world.clock,
        policy=policy or RestartPolicy(),
        on_change=seen.append,
        liveness=liveness,
        window=window,
        strict=strict,
    )
    return service, seen


async def until(predicate: Callable[[], bool], what: str = "condition") -> None:
    async with asyncio.timeout(5):  # real seconds: a bound for a broken test, not a schedule
        while not predicate():
            await asyncio.sleep(0)


async def run_for(clock: FakeClock, seconds: float, step: float = 0.25) -> None:
    """Move a manual fake clock forward in small steps, letting every task run in between: timings
    are then measured as they would be, not as auto-advancing sleeps would stretch them."""
    for _ in range(round(seconds / step)):
        clock.advance(step)
        for _ in range(10):
            await asyncio.sleep(0)


async def run_until(clock: FakeClock, predicate: Callable[[], bool], limit: float = 600) -> None:
    start = clock.now()
    while not predicate():
        assert clock.now() - start < limit, "condition not reached on the fake clock"
        await run_for(clock, 0.25)


# -- the table ------------------------------------------------------------------------------------
ALL_PAIRS = list(itertools.product(list(ServiceState), repeat=2))
LEGAL = [(a, b) for a, b in ALL_PAIRS if b in TRANSITIONS[a]]
ILLEGAL = [(a, b) for a, b in ALL_PAIRS if b not in TRANSITIONS[a]]


def test_every_state_has_a_row_and_no_self_transition() -> None:
    assert set(TRANSITIONS) == set(ServiceState)
    assert all(state not in TRANSITIONS[state] for state in ServiceState)
    assert TRANSITIONS[S.STOPPED] == frozenset()  # final


@pytest.mark.parametrize(("previous", "new"), LEGAL, ids=[f"{a}->{b}" for a, b in LEGAL])
async def test_legal_transition_is_applied_and_published_once(previous: S, new: S) -> None:
    service, seen = make(FakeWorld(clock=FakeClock(), script=[]))
    service._state = previous
    service._set(new)
    assert service.state is new and [s.state for s in seen] == [new]


@pytest.mark.parametrize(("previous", "new"), ILLEGAL, ids=[f"{a}->{b}" for a, b in ILLEGAL])
async def test_illegal_transition_raises_when_strict(previous: S, new: S) -> None:
    service, seen = make(FakeWorld(clock=FakeClock(), script=[]))
    service._state = previous
    with pytest.raises(IllegalTransition, match=f"{previous.value} -> {new.value}"):
        service._set(new)
    assert service.state is previous and seen == []
    assert not is_legal(previous, new)


async def test_illegal_transition_is_logged_in_production() -> None:
    service, _ = make(FakeWorld(clock=FakeClock(), script=[]), strict=False)
    service._state = S.STOPPED
    with capture_logs() as events:
        service._set(S.RUNNING)
    assert service.state is S.RUNNING
    assert any(e["event"] == "service.illegal_transition" and e["previous"] == "stopped" for e in events)


@pytest.mark.parametrize(
    ("state", "status"),
    [
        (S.PENDING, V2Status.STOPPED),
        (S.STARTING, V2Status.STARTING),
        (S.RUNNING, V2Status.RUNNING),
        (S.HUNG, V2Status.CRASHED),
        (S.CRASHED, V2Status.CRASHED),
        (S.RESTART_SCHEDULED, V2Status.RESTART_SCHEDULED),
        (S.STOPPING, V2Status.STOPPED),
        (S.STOPPED, V2Status.STOPPED),
        (S.ERRORED, V2Status.ERROR),
    ],
)
def test_internal_states_map_onto_the_v2_enum(state: S, status: V2Status) -> None:
    assert v2_status(state) is status
    snapshot = ServiceStatus(name="svc", state=state, required=True).to_json()
    assert snapshot["state"] == state.value and snapshot["status"] == status.value


async def test_a_whole_life_goes_through_the_table_only() -> None:
    """Start, crash, backoff, restart, hang, stop: strict mode would raise on any illegal step."""
    world = _GatedWorld(clock=FakeClock(), script=[Behaviour(runs_for=1.0)], default=Behaviour(runs_for=None))
    service, seen = make(world, liveness=Liveness(interval=5, failures=1, timeout=10))
    await service.start()
    await until(lambda: len(world.handles) == 2 and service.state is S.RUNNING)
    world.dead.add(world.handles[1].pid)
    await until(lambda: len(world.handles) == 3 and service.state is S.RUNNING)
    await service.stop()
    states = [s.state for s in seen]
    assert states[:5] == [S.STARTING, S.RUNNING, S.CRASHED, S.RESTART_SCHEDULED, S.STARTING]
    assert S.HUNG in states and states[-2:] == [S.STOPPING, S.STOPPED]


# -- requests are never ignored -------------------------------------------------------------------
class _GatedWorld(FakeWorld):
    """Health answers only while ``answers`` is true (start probes and liveness probes alike)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.answers = True
        self.probes = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.block = False  # probes never return
        self.dead: set[int] = set()  # pids whose probes fail (hung children)

    async def healthy(self) -> bool:
        self.probes += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.block:
                await asyncio.Event().wait()
            await asyncio.sleep(0)
            alive = not self.handles or self.handles[-1].pid not in self.dead
            return self.answers and alive and await super().healthy()
        finally:
            self.in_flight -= 1


async def test_restart_in_backoff_cuts_the_backoff_short() -> None:
    clock = FakeClock(auto=False)
    world = FakeWorld(clock=clock, script=[Behaviour(runs_for=1)], default=Behaviour(runs_for=None))
    service, _ = make(world, policy=RestartPolicy(initial_delay=30, max_delay=30))
    starting = asyncio.ensure_future(service.start())
    await until(lambda: service.state is S.RESTART_SCHEDULED)
    assert service.status().next_restart_in == 30
    assert await service.restart() is RestartOutcome.CUT_BACKOFF
    await until(lambda: service.state is S.RUNNING and len(world.handles) == 2)
    assert clock.now() == 1001.0  # the 30 s were never waited
    assert service.status().consecutive_failures == 1  # the crash still counts
    await starting
    await service.stop()


async def test_restart_asked_while_crashed_skips_the_coming_backoff() -> None:
    world = FakeWorld(clock=FakeClock(auto=False), script=[Behaviour(runs_for=None)], default=Behaviour(runs_for=None))
    service, seen = make(world, policy=RestartPolicy(initial_delay=30, max_delay=30))
    await service.start()

    outcomes: list[RestartOutcome] = []

    def on_change(status: ServiceStatus) -> None:
        seen.append(status)
        if status.state is S.CRASHED:  # ask right now, synchronously: restart() does not await here
            with pytest.raises(StopIteration) as answered:
                service.restart().send(None)
            outcomes.append(answered.value.value)

    service._on_change = on_change
    world.handles[0]._rc = 1
    world.handles[0]._exited.set()
    await until(lambda: len(world.handles) == 2 and service.state is S.RUNNING)
    assert outcomes == [RestartOutcome.CUT_BACKOFF]
    assert world.clock.sleeps.count(30) == 0  # the backoff was skipped, not even begun
    await service.stop()


async def test_restart_while_starting_is_answered_already_starting() -> None:
    world = _GatedWorld(clock=FakeClock(auto=False), script=[], default=Behaviour(runs_for=None))
    world.answers = False
    service, _ = make(world)
    starting = asyncio.ensure_future(service.start())
    await until(lambda: service.state is S.STARTING and world.probes > 0)
    assert await service.restart() is RestartOutcome.ALREADY_STARTING
    world.answers = True
    world.clock.advance(0.25)
    await asyncio.wait_for(starting, 5)
    assert len(world.handles) == 1  # the attempt under way was the fresh run
    await service.stop()


async def test_restart_while_running_restarts_without_a_failure() -> None:
    world = FakeWorld(clock=FakeClock(), script=[], default=Behaviour(runs_for=None))
    service, _ = make(world)
    await service.start()
    assert await service.restart() is RestartOutcome.RESTARTING
    await until(lambda: len(world.handles) == 2 and service.state is S.RUNNING)
    assert service.status().consecutive_failures == 0 and service.status().restarts == 1
    await service.stop()


async def test_restart_before_start_and_after_stop_is_answered() -> None:
    world = FakeWorld(clock=FakeClock(), script=[], default=Behaviour(runs_for=None))
    service, _ = make(world)
    assert await service.restart() is RestartOutcome.NOT_STARTED
    await service.start()
    await service.stop()
    assert await service.restart() is RestartOutcome.STOPPED
    assert service.state is S.STOPPED and len(world.handles) == 1


async def test_restart_after_giving_up_revives_the_service() -> None:
    world = FakeWorld(clock=FakeClock(), script=[Behaviour(runs_for=1)] * 3, default=Behaviour(runs_for=None))
    service, _ = make(world, policy=RestartPolicy(max_failures=2))
    await service.start()
    await asyncio.wait_for(service.gave_up.wait(), 5)
    assert service.state is S.ERRORED and isinstance(service.failure, GaveUp)
    assert await service.restart() is RestartOutcome.REVIVED
    await until(lambda: service.state is S.RUNNING)
    assert service.failure is None and not service.gave_up.is_set()
    await service.stop()
    assert service.state is S.STOPPED


@pytest.mark.parametrize("where", [S.STARTING, S.RUNNING, S.RESTART_SCHEDULED, S.HUNG])
async def test_stop_wins_in_every_state(where: S) -> None:
    clock = FakeClock(auto=False)
    world = _GatedWorld(clock=clock, script=[], default=Behaviour(runs_for=None))
    policy = RestartPolicy(initial_delay=30, max_delay=30)
    service, seen = make(world, policy=policy, liveness=Liveness(interval=5, failures=1, timeout=10))
    starter = asyncio.ensure_future(service.start())
    if where is S.STARTING:
        world.answers = False
        await run_until(clock, lambda: service.state is S.STARTING and world.probes > 0)
    else:
        await run_until(clock, lambda: service.state is S.RUNNING)
    if where is S.RESTART_SCHEDULED:
        world.handles[0]._rc = 1
        world.handles[0]._exited.set()
        await run_until(clock, lambda: service.state is S.RESTART_SCHEDULED)
    if where is S.HUNG:
        world.handles[0].terminate = _slow_kill(world.handles[0])  # type: ignore[method-assign]
        world.block = True  # the next liveness probe never answers: hung; the kill takes its time
        await run_until(clock, lambda: service.state is S.HUNG)
    spawned = len(world.handles)
    await asyncio.wait_for(service.stop(), 5)
    assert service.state is S.STOPPED and len(world.handles) == spawned
    assert [s.state for s in seen][-2:] == [S.STOPPING, S.STOPPED]
    assert await service.restart() is RestartOutcome.STOPPED
    starter.cancel()
    await asyncio.gather(starter, return_exceptions=True)


def _slow_kill(handle: Any) -> Callable[..., Any]:
    original = handle.terminate

    async def terminate(timeout: float, *, force: bool = False) -> int:
        await asyncio.sleep(0.01)  # real: lets stop() arrive while the hung child is being killed
        result: int = await original(timeout, force=force)
        return result

    return terminate


# -- the windowed budget --------------------------------------------------------------------------
async def test_window_budget_gives_up_even_when_failures_are_not_consecutive() -> None:
    # Each run is healthy for 61 s, so the consecutive count resets every time; the window does not.
    world = FakeWorld(clock=FakeClock(), script=[], default=Behaviour(runs_for=61))
    service, _ = make(world, window=RestartWindow(max_failures=3, seconds=600))
    await service.start()
    await asyncio.wait_for(service.gave_up.wait(), 5)
    assert len(world.handles) == 3 and service.status().consecutive_failures == 1
    assert isinstance(service.failure, GaveUp)
    assert "3 times within 600s (limit 3)" in service.failure.message


async def test_failures_older_than_the_window_are_forgotten() -> None:
    world = FakeWorld(clock=FakeClock(), script=[Behaviour(runs_for=700)] * 6, default=Behaviour(runs_for=None))
    service, _ = make(world, window=RestartWindow(max_failures=3, seconds=600))
    await service.start()
    await until(lambda: len(world.handles) == 7 and service.state is S.RUNNING)
    assert not service.gave_up.is_set() and service.status().window_failures == 1
    await service.stop()


async def test_consecutive_limit_is_named_when_it_is_the_one_hit() -> None:
    world = FakeWorld(clock=FakeClock(), script=[Behaviour(runs_for=1)], default=Behaviour(runs_for=1))
    service, _ = make(world, policy=RestartPolicy(max_failures=3), window=RestartWindow(max_failures=10))
    await service.start()
    await asyncio.wait_for(service.gave_up.wait(), 5)
    assert service.failure is not None and "3 times in a row (limit 3)" in service.failure.message


def test_window_from_the_command_line_or_env_and_its_validation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import click

    from openwork.cli.serve import serve_cmd
    from openwork.cli.serveconfig import server_config

    def window(*args: str) -> RestartWindow:
        argv = ["--workspace", str(tmp_path), "--data-dir", str(tmp_path / "data"), *args]
        return server_config(serve_cmd.make_context("serve", argv).params).window

    assert window() == RestartWindow(max_failures=10, seconds=600)
    monkeypatch.setenv("OPENWORK_RESTART_WINDOW_MAX", "4")
    monkeypatch.setenv("OPENWORK_RESTART_WINDOW_MS", "30000")
    assert window() == RestartWindow(max_failures=4, seconds=30)
    assert window("--restart-window-max", "3") == RestartWindow(max_failures=3, seconds=30)  # flag > env
    monkeypatch.setenv("OPENWORK_RESTART_WINDOW_MAX", "x")
    with pytest.raises(click.BadParameter):
        window()
    with pytest.raises(click.BadParameter):
        window("--restart-window-max", "0")
    with pytest.raises(ConfigError):
        RestartWindow(max_failures=0)
    with pytest.raises(ConfigError):
        Liveness(interval=0)


# -- liveness ---------------------------------------------------------------------------------------
async def test_three_failed_probes_declare_hung_then_sigcont_sigkill_and_restart() -> None:
    clock = FakeClock(auto=False)
    world = _GatedWorld(clock=clock, script=[], default=Behaviour(runs_for=None))
    service, seen = make(world, liveness=Liveness(interval=5, failures=3, timeout=10))
    hung_at: list[float] = []
    service._on_change = lambda status: (seen.append(status), status.state is S.HUNG and hung_at.append(clock.now()))
    starter = asyncio.ensure_future(service.start())
    await run_until(clock, lambda: service.state is S.RUNNING)
    await starter
    running_at = clock.now()
    with capture_logs() as events:
        world.dead.add(world.handles[0].pid)
        await run_until(clock, lambda: service.state is S.RESTART_SCHEDULED)
    assert any(e["event"] == "service.hung" and e["pid"] == world.handles[0].pid for e in events)
    assert sum(e["event"] == "service.probe_failed" for e in events) == 3
    assert 15.0 <= hung_at[0] - running_at <= 15.5  # probes at +5, +10, +15
    first = world.handles[0]
    assert first.resumed == 1 and first.forced == 1  # SIGCONT, then SIGKILL without SIGTERM first
    status = service.status()
    assert status.last_exit is not None and status.last_exit.reason == HUNG_REASON
    assert status.consecutive_failures == 1 and status.to_json()["status"] == "restart_scheduled"
    assert [s.state for s in seen][-3:] == [S.HUNG, S.CRASHED, S.RESTART_SCHEDULED]
    await run_until(clock, lambda: len(world.handles) == 2 and service.state is S.RUNNING)
    await service.stop()


async def test_an_unanswered_probe_declares_hung_at_its_timeout_and_probes_never_overlap() -> None:
    clock = FakeClock(auto=False)
    world = _GatedWorld(clock=clock, script=[], default=Behaviour(runs_for=None))
    service, _ = make(world, liveness=Liveness(interval=5, failures=3, timeout=10))
    starter = asyncio.ensure_future(service.start())
    await run_until(clock, lambda: service.state is S.RUNNING)
    await starter
    running_at = clock.now()
    world.block = True
    await run_until(clock, lambda: service.state is S.CRASHED or service.state is S.RESTART_SCHEDULED)
    assert 15.0 <= clock.now() - running_at <= 15.5  # the probe starts at +5, unanswered at +15
    assert world.max_in_flight == 1 and world.in_flight == 0  # the stuck probe was cancelled
    await service.stop()


async def test_a_passing_probe_resets_the_failure_count() -> None:
    world = _GatedWorld(clock=FakeClock(auto=False), script=[], default=Behaviour(runs_for=None))
    service, _ = make(world, liveness=Liveness(interval=5, failures=3, timeout=10))
    await service.start()
    for answer in (False, False, True, False, False):
        world.answers = answer
        probes = world.probes
        world.clock.advance(5)
        await until(lambda probes=probes: world.probes == probes + 1 and world.in_flight == 0)
        await asyncio.sleep(0)
    assert service.state is S.RUNNING  # never three in a row
    await service.stop()


# -- wait_running ---------------------------------------------------------------------------------
async def test_wait_running_returns_the_new_process() -> None:
    clock = FakeClock(auto=False)
    world = FakeWorld(clock=clock, script=[], default=Behaviour(runs_for=None))
    service, _ = make(world)
    starter = asyncio.ensure_future(service.start())
    await run_until(clock, starter.done)
    old = service.status().pid
    await service.restart()
    waiter = asyncio.ensure_future(service.wait_running(after_pid=old, timeout=30))
    await run_until(clock, waiter.done, limit=30)
    status = waiter.result()
    assert status.pid is not None and status.pid != old
    await service.stop()


async def test_wait_running_rides_out_a_port_race_but_not_a_broken_attempt() -> None:
    race = Behaviour(healthy=False, lines=("ServeError",))
    broken = Behaviour(healthy=False, rc=1, lines=("broken build",))
    clock = FakeClock(auto=False)
    world = FakeWorld(clock=clock, script=[Behaviour(runs_for=None), race, broken], default=Behaviour(runs_for=None))
    service, _ = make(world)
    starter = asyncio.ensure_future(service.start())
    await run_until(clock, starter.done)
    old = service.status().pid
    await service.restart()
    waiter = asyncio.ensure_future(service.wait_running(after_pid=old, timeout=30, max_failures=0))
    await run_until(clock, waiter.done, limit=30)
    with pytest.raises(SupervisorError, match="did not come up: exited with code 1 while starting"):
        waiter.result()
    assert len(world.handles) == 3  # the port race was ridden out; the broken attempt was not
    # The supervisor itself goes on: asked again (in its backoff), it is running soon.
    assert await service.restart() is RestartOutcome.CUT_BACKOFF
    waiter = asyncio.ensure_future(service.wait_running(after_pid=old, timeout=30))
    await run_until(clock, waiter.done, limit=30)
    assert waiter.result().pid == world.handles[3].pid
    await service.stop()


async def test_wait_running_times_out_on_the_injected_clock() -> None:
    clock = FakeClock(auto=False)
    world = _GatedWorld(clock=clock, script=[], default=Behaviour(runs_for=None))
    world.answers = False
    service, _ = make(world, policy=RestartPolicy(start_timeout=100))
    starter = asyncio.ensure_future(service.start())
    waiter = asyncio.ensure_future(service.wait_running(timeout=3))
    await until(lambda: world.probes > 0)  # both have begun: the deadline is now + 3
    await run_for(clock, 2.75)
    assert not waiter.done()
    await run_for(clock, 0.25)
    with pytest.raises(StartTimeout, match="not healthy within 3s"):
        await asyncio.wait_for(waiter, 5)
    await service.stop()
    await asyncio.gather(starter, return_exceptions=True)


async def test_wait_running_raises_when_stopped() -> None:
    world = FakeWorld(clock=FakeClock(), script=[], default=Behaviour(runs_for=None))
    service, _ = make(world)
    await service.start()
    waiter = asyncio.ensure_future(service.wait_running(after_pid=service.status().pid, timeout=30))
    await asyncio.sleep(0)
    await service.stop()
    with pytest.raises(SupervisorError, match="was stopped"):
        await asyncio.wait_for(waiter, 5)
