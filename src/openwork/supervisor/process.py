"""Real child processes: argv only, own process group, parent-death signal, whole-tree termination."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable
from typing import Protocol

import psutil

from openwork.errors import SupervisorError
from openwork.logging import get_logger
from openwork.supervisor.lines import LineSplitter
from openwork.supervisor.records import ChildRecord, ChildRecords
from openwork.supervisor.spawn import SpawnSpec, cannot_start, child_options

__all__ = ["AsyncioSpawner", "LineCallback", "ProcessHandle", "SpawnSpec", "Spawner"]

log = get_logger("openwork.supervisor")

LineCallback = Callable[[str, str], None]  # (line, stream name)
_READ_CHUNK = 64 * 1024
_POLL = 0.05  # how often descendants are checked while waiting for them to exit
_READER_DRAIN_TIMEOUT = 1.0  # after the tree is gone, pipes close; never wait longer than this


class ProcessHandle(Protocol):
    pid: int

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...

    async def terminate(self, timeout: float, *, force: bool = False) -> int: ...

    def resume(self) -> None:
        """SIGCONT the group: a stopped (hung) child is woken before it is killed."""
        ...


class Spawner(Protocol):
    async def spawn(self, spec: SpawnSpec, on_line: LineCallback) -> ProcessHandle: ...


class _Proc(Protocol):
    """What a handle needs of its process (``asyncio.subprocess.Process``)."""

    pid: int
    stdout: asyncio.StreamReader | None
    stderr: asyncio.StreamReader | None

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _group_members(pgid: int) -> list[psutil.Process]:
    members: list[psutil.Process] = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if proc.pid != os.getpid() and os.getpgid(proc.pid) == pgid:
                members.append(proc)
    return members


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class _AsyncioHandle:
    def __init__(self, proc: _Proc, spec: SpawnSpec, records: ChildRecords | None) -> None:
        self._proc = proc
        self.pid = proc.pid
        self.pgid = proc.pid  # process_group=0 (see child_options): the child leads its own group
        self._spec = spec
        self._records = records
        self._readers: list[asyncio.Task[None]] = []
        self._terminated = False

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    async def wait(self) -> int:
        return await self._proc.wait()

    def _descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.pid).children(recursive=True)
        except psutil.Error:
            return []

    def resume(self) -> None:
        _signal_group(self.pgid, signal.SIGCONT)

    async def terminate(self, timeout: float, *, force: bool = False) -> int:
        """SIGTERM the group, SIGKILL the group and every descendant seen before the first signal
        once ``timeout`` passes (at once with ``force``). Safe to call twice and after the exit."""
        snapshot = self._descendants()
        snapshot.extend(p for p in _group_members(self.pgid) if p.pid not in {s.pid for s in snapshot})
        if not force:
            _signal_group(self.pgid, signal.SIGTERM)
            for proc in snapshot:  # descendants that left the group (setsid) still get asked first
                with contextlib.suppress(psutil.Error):
                    proc.terminate()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            # The leader's exit wakes us at once (no polling tick added to every stop); descendants
            # that outlive it, rare, are polled.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._proc.wait()), timeout)
            while loop.time() < deadline:
                if self._proc.returncode is not None and not any(_alive(p) for p in snapshot):
                    break
                await asyncio.sleep(_POLL)
        _signal_group(self.pgid, signal.SIGKILL)
        for proc in snapshot:
            with contextlib.suppress(psutil.Error):
                proc.kill()  # psutil checks create_time, so a reused pid is never hit
        try:
            rc = await asyncio.wait_for(self._proc.wait(), timeout=max(timeout, 1.0))
        except TimeoutError as exc:  # pragma: no cover - SIGKILL cannot be ignored
            raise SupervisorError(f"{self._spec.name} (pid {self.pid}) survived SIGKILL") from exc
        await self._drain_readers()
        if self._records is not None and not self._terminated:
            self._records.remove(self.pid)
        self._terminated = True
        return rc

    async def _drain_readers(self) -> None:
        if not self._readers:
            return
        _done, pending = await asyncio.wait(self._readers, timeout=_READER_DRAIN_TIMEOUT)
        for task in pending:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*pending, return_exceptions=True)

    def start_readers(self, on_line: LineCallback) -> None:
        for name, stream in (("stdout", self._proc.stdout), ("stderr", self._proc.stderr)):
            if stream is not None:
                self._readers.append(asyncio.create_task(_read_lines(stream, name, on_line)))


async def _read_lines(stream: asyncio.StreamReader, name: str, on_line: LineCallback) -> None:
    splitter = LineSplitter()
    while True:
        chunk = await stream.read(_READ_CHUNK)
        if not chunk:
            break
        for line in splitter.feed(chunk):
            on_line(line, name)
    for line in splitter.flush():
        on_line(line, name)


class AsyncioSpawner:
    """Spawns real processes on the running asyncio loop (which must be the main thread's, because
    the parent-death signal follows the thread that forked)."""

    def __init__(self, *, records: ChildRecords | None = None) -> None:
        self._records = records

    async def _start(self, spec: SpawnSpec) -> _Proc:
        try:
            return await asyncio.create_subprocess_exec(*spec.argv, **child_options(spec))
        except OSError as exc:
            raise cannot_start(spec, exc) from exc

    async def spawn(self, spec: SpawnSpec, on_line: LineCallback) -> ProcessHandle:
        proc = await self._start(spec)
        handle = _AsyncioHandle(proc, spec, self._records)
        if self._records is not None:
            try:
                created = psutil.Process(proc.pid).create_time()
            except psutil.Error:
                created = 0.0
            self._records.add(
                ChildRecord.for_child(service=spec.name, pid=proc.pid, pgid=proc.pid, create_time=created)
            )
        handle.start_readers(on_line)
        log.debug("service.spawned", service=spec.name, pid=proc.pid, argv=list(spec.argv))
        return handle
