"""A durable record of the children we started, so a hard-killed server's leftovers are reaped.

Each record names the child by ``(pid, create_time)`` and its process group, plus the server that
owns it. The next server start kills only processes that match the record exactly (same pid and start
time, or members of that group started after it), and only when the owning server is gone: a reused
pid is never hit, and a second server sharing the data dir is never disturbed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil
import structlog

from openwork.errors import StoreError
from openwork.store.atomic import read_text, write_atomic
from openwork.supervisor.identity import TIME_SLACK, same_process

__all__ = ["ChildRecord", "ChildRecords", "same_process"]

log = structlog.get_logger("openwork.supervisor")


def _self_create_time() -> float:
    return psutil.Process(os.getpid()).create_time()


@dataclass(frozen=True, kw_only=True, slots=True)
class ChildRecord:
    service: str
    pid: int
    pgid: int
    create_time: float
    owner_pid: int = field(default_factory=os.getpid)
    owner_create_time: float = field(default_factory=_self_create_time)


class ChildRecords:
    """The children file: ``<state dir>/children.json``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def _read(self) -> list[ChildRecord]:
        try:
            text = read_text(self.path)
        except StoreError:
            return []
        if not text:
            return []
        try:
            return [ChildRecord(**item) for item in json.loads(text)]
        except (ValueError, TypeError):
            log.warning("records.unreadable", path=str(self.path), message="ignoring a corrupt children record")
            return []

    def _write(self, records: list[ChildRecord]) -> None:
        write_atomic(self.path, json.dumps([asdict(r) for r in records], indent=1), mode=0o600)

    def add(self, record: ChildRecord) -> None:
        with self._lock:
            records = [r for r in self._read() if r.pid != record.pid]
            records.append(record)
            self._write(records)

    def remove(self, pid: int) -> None:
        with self._lock:
            records = self._read()
            kept = [r for r in records if r.pid != pid]
            if len(kept) != len(records):
                self._write(kept)

    def all(self) -> list[ChildRecord]:
        with self._lock:
            return self._read()

    def reap_leftovers(self) -> list[int]:
        """Kill recorded children (and their group) whose owning server is dead. Returns killed pids."""
        killed: list[int] = []
        with self._lock:
            records = self._read()
            kept: list[ChildRecord] = []
            for record in records:
                if same_process(record.owner_pid, record.owner_create_time) is not None:
                    kept.append(record)  # its server is alive: not ours to touch
                    continue
                killed.extend(self._kill_record(record))
            if len(kept) != len(records):
                self._write(kept)
        for pid in killed:
            log.warning("records.reaped", pid=pid, message=f"killed leftover child {pid} of a dead server")
        return killed

    @staticmethod
    def _kill_record(record: ChildRecord) -> list[int]:
        victims: list[psutil.Process] = []
        leader = same_process(record.pid, record.create_time)
        if leader is not None:
            victims.append(leader)
        for proc in psutil.process_iter():
            with contextlib.suppress(psutil.Error, OSError):
                if (
                    proc.pid != record.pid
                    and os.getpgid(proc.pid) == record.pgid
                    and proc.create_time() >= record.create_time - TIME_SLACK
                ):
                    victims.append(proc)
        pids: list[int] = []
        for proc in victims:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGKILL)
                pids.append(proc.pid)
        psutil.wait_procs(victims, timeout=2.0)
        return pids
