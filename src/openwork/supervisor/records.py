"""A durable record of the children we started, so a hard-killed server's leftovers are reaped.

Each record names the child by ``(pid, create_time)`` and its process group, the server that owns it,
the boot it was started in and the owning run's nonce (:data:`~openwork.supervisor.spawn.NONCE_ENV`,
in the environment of the child and of everything it starts). The next server start acts only on the
records of a server that is gone, and kills only what provably is ours: the leader, if its pid and
start time still match, and any process carrying the recorded nonce. A reused pid or process group, or
any record of an earlier boot, is left alone and logged. A second server sharing the data dir is never
disturbed, and a file we cannot read as records is moved aside (``children.json.bad-...``), never a
reason not to start.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from pathlib import Path
from typing import Annotated

import psutil
import pydantic
import structlog
from pydantic import BaseModel, ConfigDict, Field

from openwork.errors import StoreError
from openwork.store.atomic import move_aside, read_regular, write_atomic
from openwork.supervisor.identity import boot_id, same_process
from openwork.supervisor.spawn import NONCE_ENV, supervisor_nonce

__all__ = ["MAX_RECORDS_BYTES", "REAP_WAIT_TIMEOUT", "ChildRecord", "ChildRecords", "same_process"]

log = structlog.get_logger("openwork.supervisor")

REAP_WAIT_TIMEOUT = 2.0  # after SIGKILL, leftovers are waited for this long (SIGKILL cannot be ignored)
MAX_RECORDS_BYTES = 1 << 20  # a few hundred bytes a child; anything near this is not our file
_PID_MAX = 2**31 - 1  # pid_t; the kernel's own limit (pid_max) is at most 2**22

_Pid = Annotated[int, Field(gt=0, le=_PID_MAX)]
_Time = Annotated[float, Field(ge=0, allow_inf_nan=False)]


def _self_create_time() -> float:
    return psutil.Process(os.getpid()).create_time()


class ChildRecord(BaseModel):
    """One child, as ``children.json`` holds it.

    Strict types (``"12"`` is no pid, ``true`` no number). Unknown fields are ignored rather than
    refused: a newer server may add some, and an older one run afterwards should still reap by the
    fields it knows. ``nonce`` and ``boot_id`` are missing only in records of servers before they
    existed; such a record can be reaped by its leader's ``(pid, create_time)`` alone.
    """

    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")

    service: str = Field(max_length=256)
    pid: _Pid
    pgid: _Pid
    create_time: _Time
    owner_pid: _Pid
    owner_create_time: _Time
    nonce: str | None = Field(default=None, min_length=16, max_length=256)
    boot_id: str | None = Field(default=None, min_length=1, max_length=256)

    @classmethod
    def for_child(cls, *, service: str, pid: int, pgid: int, create_time: float) -> ChildRecord:
        """A record of a child this process just started: owned by us, in this boot, with our nonce."""
        return cls(
            service=service,
            pid=pid,
            pgid=pgid,
            create_time=create_time,
            owner_pid=os.getpid(),
            owner_create_time=_self_create_time(),
            nonce=supervisor_nonce(),
            boot_id=boot_id(),
        )


_RECORDS = pydantic.TypeAdapter(list[ChildRecord])


class ChildRecords:
    """The children file: ``<state dir>/children.json``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def _read(self) -> list[ChildRecord]:
        try:
            raw = read_regular(self.path, max_bytes=MAX_RECORDS_BYTES)
        except StoreError as exc:
            self._set_aside(exc.message)
            return []
        if raw is None or not raw.strip():
            return []
        try:
            return _RECORDS.validate_json(raw)
        except pydantic.ValidationError as exc:
            # Only the error count and the first location: the messages would quote the content.
            first = exc.errors()[0]["loc"] if exc.error_count() else ()
            self._set_aside(f"not a list of child records ({exc.error_count()} errors, first at {list(first)})")
            return []

    def _set_aside(self, reason: str) -> None:
        try:
            moved = move_aside(self.path)
        except StoreError as exc:
            log.error("records.unreadable", path=str(self.path), reason=reason, error=exc.message)
            return
        log.warning(
            "records.unreadable",
            path=str(self.path),
            moved_to=str(moved),
            reason=reason,
            message=f"moved an unreadable children record aside to {moved.name}; starting without it",
        )

    def _write(self, records: list[ChildRecord]) -> None:
        if not records:
            # No file at all when there is nothing to reap: the next start then skips reaping (and its
            # imports) without reading anything.
            try:
                self.path.unlink(missing_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot remove {self.path}: {exc.strerror}") from exc
            return
        write_atomic(self.path, _RECORDS.dump_json(records, indent=1), mode=0o600)

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
        """Kill what provably is left of servers that are gone (see the module docstring); forget their
        records either way. Never raises for what the file holds. Returns the killed pids."""
        with self._lock:
            records = self._read()
            kept: list[ChildRecord] = []
            dead: list[ChildRecord] = []
            for record in records:
                if same_process(record.owner_pid, record.owner_create_time) is not None:
                    kept.append(record)  # its server is alive: not ours to touch
                else:
                    dead.append(record)
            killed = _reap(dead) if dead else []
            if dead or not records:
                self._write(kept)
        for pid in killed:
            log.warning("records.reaped", pid=pid, message=f"killed leftover child {pid} of a dead server")
        return killed


def _reap(records: list[ChildRecord]) -> list[int]:
    """Kill the processes ``records`` prove to be ours; log the ones they point at but do not prove."""
    this_boot = boot_id()
    ours = supervisor_nonce()
    provable: list[ChildRecord] = []
    for record in records:
        if record.boot_id is not None and record.boot_id != this_boot:
            log.warning(
                "records.other_boot",
                service=record.service,
                pid=record.pid,
                pgid=record.pgid,
                message="a children record from before a reboot: its pids name other processes now; left alone",
            )
        else:
            provable.append(record)
    if not provable:
        return []
    # Never ourselves or our ancestors: a server started from a shell that a dead server's opencode
    # opened inherits that server's nonce.
    spared = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    victims: dict[int, psutil.Process] = {}
    for record in provable:
        leader = same_process(record.pid, record.create_time)
        if leader is not None and leader.pid not in spared:
            victims[leader.pid] = leader
    nonces = {r.nonce for r in provable if r.nonce is not None and r.nonce != ours}
    groups = {r.pgid for r in provable}
    unproven: dict[int, list[int]] = {}
    for proc in psutil.process_iter(["environ"]):  # a process we may not read reads as None: not ours
        if proc.pid in spared or proc.pid in victims:
            continue
        environ = proc.info.get("environ") or {}
        if environ.get(NONCE_ENV) in nonces:
            victims[proc.pid] = proc
            continue
        with contextlib.suppress(psutil.Error, OSError):
            pgid = os.getpgid(proc.pid)
            if pgid in groups:
                unproven.setdefault(pgid, []).append(proc.pid)
    for pgid, pids in unproven.items():
        log.warning(
            "records.left_alone",
            pgid=pgid,
            pids=sorted(pids),
            message=f"processes in recorded group {pgid} carry no proof they are ours (reused ids?); left alone",
        )
    killed: list[int] = []
    for proc in victims.values():
        with contextlib.suppress(psutil.Error):
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue  # dead already; its parent (or init) collects it
            proc.send_signal(signal.SIGKILL)  # psutil refuses a process whose pid was reused since
            killed.append(proc.pid)
    psutil.wait_procs(list(victims.values()), timeout=REAP_WAIT_TIMEOUT)
    return killed
