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
import json
import math
import os
import signal
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from openwork.errors import StoreError
from openwork.logging import get_logger
from openwork.store.atomic import move_aside, read_regular, write_atomic
from openwork.supervisor.identity import boot_id, same_process
from openwork.supervisor.spawn import NONCE_ENV, supervisor_nonce

__all__ = ["MAX_RECORDS_BYTES", "REAP_WAIT_TIMEOUT", "ChildRecord", "ChildRecords", "same_process"]

log = get_logger("openwork.supervisor")

REAP_WAIT_TIMEOUT = 2.0  # after SIGKILL, leftovers are waited for this long (SIGKILL cannot be ignored)
MAX_RECORDS_BYTES = 1 << 20  # a few hundred bytes a child; anything near this is not our file
_PID_MAX = 2**31 - 1  # pid_t; the kernel's own limit (pid_max) is at most 2**22
_MAX_TEXT = 256


def _self_create_time() -> float:
    return psutil.Process(os.getpid()).create_time()


class _Invalid(ValueError):
    """A record that is not one; the message names the field, never its value."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ChildRecord:
    """One child, as ``children.json`` holds it.

    Strict types (``"12"`` is no pid, ``true`` no number). Unknown fields are ignored rather than
    refused: a newer server may add some, and an older one run afterwards should still reap by the
    fields it knows. ``nonce`` and ``boot_id`` are missing only in records of servers before they
    existed; such a record can be reaped by its leader's ``(pid, create_time)`` alone. (A dataclass
    checked by hand, not a pydantic model: this module is on the way to opencode's spawn, and pydantic's
    import is not.)
    """

    service: str
    pid: int
    pgid: int
    create_time: float
    owner_pid: int
    owner_create_time: float
    nonce: str | None = None
    boot_id: str | None = None

    @classmethod
    def from_json(cls, item: object) -> ChildRecord:
        """The record ``item`` (one element of the file's list) holds; :class:`_Invalid` if it holds none."""
        if not isinstance(item, dict):
            raise _Invalid("not an object")
        return cls(
            service=_text(item, "service", 0),
            pid=_pid(item, "pid"),
            pgid=_pid(item, "pgid"),
            create_time=_time(item, "create_time"),
            owner_pid=_pid(item, "owner_pid"),
            owner_create_time=_time(item, "owner_create_time"),
            nonce=_optional_text(item, "nonce", 16),
            boot_id=_optional_text(item, "boot_id", 1),
        )

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


def _field(item: dict[str, Any], name: str) -> object:
    if name not in item:
        raise _Invalid(f"{name} missing")
    return item[name]


def _pid(item: dict[str, Any], name: str) -> int:
    value = _field(item, name)
    if type(value) is not int or not 0 < value <= _PID_MAX:  # bool is an int subclass: refused too
        raise _Invalid(f"{name} is not a pid")
    return value


def _time(item: dict[str, Any], name: str) -> float:
    value = _field(item, name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid(f"{name} is not a time")
    try:
        number = float(value)  # a whole number past a float's range overflows
    except OverflowError:
        raise _Invalid(f"{name} is not a time") from None
    if not math.isfinite(number) or number < 0:
        raise _Invalid(f"{name} is not a time")
    return number


def _text(item: dict[str, Any], name: str, least: int) -> str:
    value = _field(item, name)
    if type(value) is not str or not least <= len(value) <= _MAX_TEXT:
        raise _Invalid(f"{name} is not a string of {least} to {_MAX_TEXT} characters")
    try:
        value.encode("utf-8")  # a lone surrogate ("\ud800") is no text: it would break the log file
    except UnicodeEncodeError:
        raise _Invalid(f"{name} is not text") from None
    return value


def _optional_text(item: dict[str, Any], name: str, least: int) -> str | None:
    return None if item.get(name) is None else _text(item, name, least)


def _parse(raw: bytes) -> list[ChildRecord]:
    try:
        # Decoded here, strictly: json.loads(bytes) would also take UTF-16/32 and a byte-order mark.
        items = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise _Invalid("not JSON") from exc
    if not isinstance(items, list):
        raise _Invalid("not a list")
    records = []
    for index, item in enumerate(items):
        try:
            records.append(ChildRecord.from_json(item))
        except _Invalid as exc:
            raise _Invalid(f"record {index}: {exc}") from None
    return records


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
            return _parse(raw)
        except _Invalid as exc:  # its message names a field, never the content
            self._set_aside(f"not a list of child records ({exc})")
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
        write_atomic(self.path, json.dumps([asdict(r) for r in records], indent=1).encode(), mode=0o600)

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
