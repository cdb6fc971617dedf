"""Injected time and processes for unit tests of supervision logic (no sleeping, no real children)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from openwork.supervisor.process import LineCallback, SpawnSpec


class FakeClock:
    """Time moves only when the code under test sleeps (``auto=True``) or a test calls ``advance``."""

    def __init__(self, *, auto: bool = True) -> None:
        self.t = 1000.0
        self.auto = auto
        self.sleeps: list[float] = []
        self._advanced = asyncio.Event()

    def now(self) -> float:
        return self.t

    def wall(self) -> float:
        return 1_700_000_000.0 + self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds
        self._advanced.set()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.auto:
            self.t += seconds
            await asyncio.sleep(0)
            return
        deadline = self.t + seconds
        while self.t < deadline:
            self._advanced.clear()
            await self._advanced.wait()


@dataclass
class Behaviour:
    """One attempt: ``healthy`` or not; when healthy, run for ``runs_for`` seconds of fake time
    (``None`` = until terminated) then exit with ``rc``."""

    healthy: bool = True
    runs_for: float | None = 0.0
    rc: int = 1
    lines: tuple[str, ...] = ()


class FakeHandle:
    def __init__(self, pid: int, behaviour: Behaviour, clock: FakeClock) -> None:
        self.pid = pid
        self.behaviour = behaviour
        self._clock = clock
        self._rc: int | None = None if behaviour.healthy else behaviour.rc
        self._exited = asyncio.Event()
        self.terminations = 0
        self.forced = 0
        self.resumed = 0
        if self._rc is not None:
            self._exited.set()

    @property
    def returncode(self) -> int | None:
        return self._rc

    async def wait(self) -> int:
        if self._rc is None and self.behaviour.runs_for is not None:
            self._clock.t += self.behaviour.runs_for
            self._rc = self.behaviour.rc
            self._exited.set()
        await self._exited.wait()
        assert self._rc is not None
        return self._rc

    def resume(self) -> None:
        self.resumed += 1

    async def terminate(self, timeout: float, *, force: bool = False) -> int:
        self.terminations += 1
        self.forced += int(force)
        if self._rc is None:
            self._rc = -9 if force else -15
            self._exited.set()
        return self._rc


@dataclass
class FakeWorld:
    """Spawner + driver in one: the driver's health answer follows the current handle's script."""

    clock: FakeClock
    script: list[Behaviour]
    default: Behaviour = field(default_factory=lambda: Behaviour(healthy=False))
    handles: list[FakeHandle] = field(default_factory=list)
    spawn_times: list[float] = field(default_factory=list)

    async def spawn(self, spec: SpawnSpec, on_line: LineCallback) -> FakeHandle:
        behaviour = self.script.pop(0) if self.script else self.default
        handle = FakeHandle(1000 + len(self.handles), behaviour, self.clock)
        for line in behaviour.lines:
            on_line(line, "stdout")
        self.handles.append(handle)
        self.spawn_times.append(self.clock.now())
        return handle

    async def after_exit(self) -> None:
        pass

    async def prepare(self) -> SpawnSpec:
        return SpawnSpec(name="svc", argv=("svc",), env={}, cwd=Path("/"))

    async def healthy(self) -> bool:
        return bool(self.handles) and self.handles[-1].behaviour.healthy

    def details(self) -> dict[str, object]:
        return {}
