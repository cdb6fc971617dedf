"""Reaping a dead server's leftovers kills only what provably is ours (issue 16, finding 6).

Real processes throughout: unrelated ones that a stale ``children.json`` points at by pid, group,
start time or boot (none may die), and children started with a run's nonce (all must die). Every
process a test starts is killed in ``finally`` and counted gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openwork.logging import capture_logs
from openwork.supervisor.identity import TIME_SLACK, boot_id
from openwork.supervisor.records import ChildRecord, ChildRecords
from openwork.supervisor.spawn import NONCE_ENV, supervisor_nonce
from tests.helpers import pid_alive, wait_for

SLEEP = ["sleep", "300"]
SETTLE_TIMEOUT = 10.0  # a killed process is gone (or a zombie) well within this


@dataclass
class Group:
    """A process group of real sleepers: the leader and its members (all our direct children). Start
    times are read once, so what a test generates never depends on whether a bug killed one."""

    leader: subprocess.Popen[bytes]
    members: list[subprocess.Popen[bytes]]
    times: dict[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.times = {p.pid: psutil.Process(p.pid).create_time() for p in self.procs}

    @property
    def pgid(self) -> int:
        return self.leader.pid

    @property
    def procs(self) -> list[subprocess.Popen[bytes]]:
        return [self.leader, *self.members]

    def create_time(self, proc: subprocess.Popen[bytes] | None = None) -> float:
        return self.times[(proc or self.leader).pid]


class Spawned:
    """Everything a test started, killed and collected at the end: the resource count."""

    def __init__(self) -> None:
        self.popens: list[subprocess.Popen[bytes]] = []
        self.others: list[psutil.Process] = []  # descendants that are not our children

    def popen(self, argv: list[str], **kw: Any) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, **kw)
        self.popens.append(proc)
        return proc

    def group(self, members: int, *, env: dict[str, str]) -> Group:
        leader = self.popen(SLEEP, env=env, process_group=0)
        return Group(leader, [self.popen(SLEEP, env=env, process_group=leader.pid) for _ in range(members)])

    def cleanup(self) -> None:
        for proc in self.popens:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout=SETTLE_TIMEOUT)
        for other in self.others:
            with contextlib.suppress(psutil.Error):
                other.kill()
        wait_for(lambda: not self.alive(), timeout=SETTLE_TIMEOUT, what="every test process to be gone")

    def alive(self) -> list[int]:
        pids = [p.pid for p in self.popens if p.poll() is None]
        return pids + [p.pid for p in self.others if pid_alive(p.pid) and p.is_running()]


@pytest.fixture
def spawned() -> Iterator[Spawned]:
    procs = Spawned()
    try:
        yield procs
    finally:
        procs.cleanup()
        assert procs.alive() == []


def dead_owner() -> tuple[int, float]:
    """A server that is gone: the pid of a process that exited (and was collected)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid, 1.0


def env_with(nonce: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != NONCE_ENV}
    if nonce is not None:
        env[NONCE_ENV] = nonce
    return env


def record(**fields: Any) -> dict[str, Any]:
    owner_pid, owner_time = dead_owner()
    base: dict[str, Any] = {"service": "opencode", "owner_pid": owner_pid, "owner_create_time": owner_time}
    return {**base, **fields}


# -- none of these is ours -------------------------------------------------------------------------

_OFFSETS = st.sampled_from([-1.0, 1.0]).flatmap(
    lambda sign: st.floats(min_value=TIME_SLACK * 4, max_value=10_000.0).map(lambda v: sign * v)
)
_SHAPES = ("wrong_time", "dead_leader", "member_pid", "foreign_nonce", "other_boot")


@dataclass(frozen=True)
class Stale:
    """How a stale record of a dead server points at processes it does not own (after pid reuse or a
    reboot). Drawn before the processes exist: each example starts its own, so a bug that kills one
    cannot change what later examples see."""

    shape: str
    group: int  # which of the plain groups (0, 1 or 2 members)
    member: int  # which process of it, for "member_pid"
    offset: float  # how far off the recorded start time is
    legacy: bool  # a record from before nonce and boot id were recorded
    nonce: str
    other_boot: str


stale = st.builds(
    Stale,
    shape=st.sampled_from(_SHAPES),
    group=st.integers(0, 2),
    member=st.integers(0, 2),
    offset=_OFFSETS,
    legacy=st.booleans(),
    nonce=st.uuids().map(lambda u: u.hex),
    other_boot=st.uuids().map(str),
)


@dataclass
class Unrelated:
    """Processes no record may kill: plain groups, another server's children (they carry its nonce),
    and children carrying a nonce that a record of an earlier boot names."""

    groups: list[Group]
    foreign: Group
    rebooted: Group
    rebooted_nonce: str

    @classmethod
    def start(cls, spawned: Spawned) -> Unrelated:
        nonce = uuid.uuid4().hex
        return cls(
            groups=[spawned.group(n, env=env_with(None)) for n in (0, 1, 2)],
            foreign=spawned.group(1, env=env_with(uuid.uuid4().hex)),
            rebooted=spawned.group(1, env=env_with(nonce)),
            rebooted_nonce=nonce,
        )

    def record(self, how: Stale) -> dict[str, Any]:
        group = self.groups[how.group]
        fields: dict[str, Any] = {"pgid": group.pgid}
        if how.shape == "wrong_time":  # the leader's pid was reused: same pid and group, another start
            fields |= {"pid": group.pgid, "create_time": group.create_time() + how.offset}
        elif how.shape == "dead_leader":  # the leader is gone; its group id now names this group
            fields |= {"pid": dead_owner()[0], "create_time": group.create_time() - abs(how.offset)}
        elif how.shape == "member_pid":
            member = group.procs[how.member % len(group.procs)]
            fields |= {"pid": member.pid, "create_time": group.create_time(member) - abs(how.offset)}
        elif how.shape == "foreign_nonce":  # the pid and group reused by another server's children
            target = self.foreign
            fields = {"pid": target.pgid, "pgid": target.pgid, "create_time": target.create_time() + how.offset}
            return record(**fields, nonce=how.nonce, boot_id=boot_id())
        else:  # our own children, exactly and with their nonce, but recorded in an earlier boot
            target = self.rebooted
            fields = {"pid": target.pgid, "pgid": target.pgid, "create_time": target.create_time()}
            return record(**fields, nonce=self.rebooted_nonce, boot_id=how.other_boot)
        if not how.legacy:
            fields |= {"nonce": how.nonce, "boot_id": boot_id()}
        return record(**fields)

    @property
    def everyone(self) -> list[subprocess.Popen[bytes]]:
        return [p for g in [*self.groups, self.foreign, self.rebooted] for p in g.procs]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(how=st.lists(stale, min_size=1, max_size=4))
def test_a_stale_record_never_kills_an_unrelated_process(
    tmp_path_factory: pytest.TempPathFactory, how: list[Stale]
) -> None:
    spawned = Spawned()
    try:
        unrelated = Unrelated.start(spawned)
        path = tmp_path_factory.mktemp("run") / "children.json"
        path.write_text(json.dumps([unrelated.record(h) for h in how]))
        with capture_logs() as logs:
            killed = ChildRecords(path).reap_leftovers()
        assert killed == []
        assert [p.pid for p in unrelated.everyone if p.poll() is not None] == []
        assert not path.exists()  # the stale records are forgotten
        events = {e["event"] for e in logs}
        assert events & {"records.left_alone", "records.other_boot"}, logs  # and what was spared is logged
    finally:
        spawned.cleanup()
        assert spawned.alive() == []


def test_a_live_servers_records_are_kept_and_its_children_untouched(tmp_path: Path, spawned: Spawned) -> None:
    group = spawned.group(1, env=env_with(supervisor_nonce()))
    path = tmp_path / "children.json"
    records = ChildRecords(path)
    records.add(
        ChildRecord.for_child(service="opencode", pid=group.pgid, pgid=group.pgid, create_time=group.create_time())
    )
    assert records.reap_leftovers() == []
    assert [r.pid for r in records.all()] == [group.pgid]
    assert all(p.poll() is None for p in group.procs)


# -- all of these are ours -------------------------------------------------------------------------

ESCAPE = (
    "import subprocess, sys, time\n"
    "p = subprocess.Popen(['sleep', '300'], start_new_session=True)\n"  # leaves the group and the session
    "print(p.pid, flush=True)\n"
    "time.sleep(300)\n"
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    shapes=st.lists(
        st.tuples(st.integers(0, 2), st.booleans(), st.booleans()),  # members, an escapee, leader time right
        min_size=1,
        max_size=3,
    )
)
def test_a_dead_servers_children_started_with_its_nonce_are_all_reaped(
    tmp_path: Path, shapes: list[tuple[int, bool, bool]]
) -> None:
    spawned = Spawned()
    nonce = uuid.uuid4().hex
    try:
        entries: list[dict[str, Any]] = []
        for members, escapee, exact in shapes:
            group = spawned.group(members, env=env_with(nonce))
            if escapee:
                runner = spawned.popen(
                    [sys.executable, "-c", ESCAPE],
                    env=env_with(nonce),
                    process_group=group.pgid,
                    stdout=subprocess.PIPE,
                )
                assert runner.stdout is not None
                spawned.others.append(psutil.Process(int(runner.stdout.readline())))
                runner.stdout.close()
            # Not exact: the leader's start time is off (a clock step); the nonce still proves it ours.
            created = group.create_time() if exact else group.create_time() + 100.0
            entries.append(record(pid=group.pgid, pgid=group.pgid, create_time=created, nonce=nonce, boot_id=boot_id()))
        path = tmp_path / f"{nonce}.json"
        path.write_text(json.dumps(entries))
        killed = ChildRecords(path).reap_leftovers()
        wait_for(lambda: spawned.alive() == [], timeout=SETTLE_TIMEOUT, what="every leftover to be reaped")
        assert set(killed) == {p.pid for p in spawned.popens} | {p.pid for p in spawned.others}
        assert not path.exists()
    finally:
        spawned.cleanup()
        assert spawned.alive() == []


# A server in miniature: starts a child the way the spawner does (``child_options``), records it the way
# the spawner does, and waits to be SIGKILLed. The child starts a grandchild in its group and one
# that leaves the group and the session; only the nonce in their environment ties the latter to us.
FAKE_SERVER = """
import json, sys
from pathlib import Path
from openwork.supervisor.records import ChildRecord, ChildRecords
from openwork.supervisor.spawn import SpawnSpec, child_options
import psutil, subprocess
argv = (sys.executable, "-c", sys.argv[2])
spec = SpawnSpec(name="opencode", argv=argv, env={"PATH": "/usr/bin:/bin"}, cwd=Path.cwd())
child = subprocess.Popen(spec.argv, **child_options(spec))
escapee = child.stdout.readline().decode().strip()
created = psutil.Process(child.pid).create_time()
record = ChildRecord.for_child(service="opencode", pid=child.pid, pgid=child.pid, create_time=created)
ChildRecords(Path(sys.argv[1])).add(record)
print(json.dumps({"child": child.pid, "escapee": int(escapee)}), flush=True)
sys.stdin.read()
"""

CHILD = (
    "import subprocess, time\n"
    "grandchild = subprocess.Popen(['sleep', '300'])\n"
    "escapee = subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
    "print(escapee.pid, flush=True)\n"
    "time.sleep(300)\n"
)


def test_after_a_hard_kill_the_next_start_reaps_every_process_carrying_the_dead_runs_nonce(tmp_path: Path) -> None:
    path = tmp_path / "children.json"
    server = subprocess.Popen(
        [sys.executable, "-c", FAKE_SERVER, str(path), CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env_with(None),
    )
    leftovers: list[psutil.Process] = []
    try:
        assert server.stdout is not None
        pids = json.loads(server.stdout.readline())
        child = psutil.Process(pids["child"])
        leftovers = [child, *child.children()]
        assert len(leftovers) == 3 and pids["escapee"] in {p.pid for p in leftovers}
        assert os.getpgid(pids["escapee"]) != child.pid  # it left the recorded group
        server_nonce = child.environ()[NONCE_ENV]
        assert server_nonce != supervisor_nonce()
        assert all(p.environ()[NONCE_ENV] == server_nonce for p in leftovers)
        [recorded] = ChildRecords(path).all()
        assert (recorded.nonce, recorded.boot_id, recorded.pid) == (server_nonce, boot_id(), child.pid)
        server.kill()
        server.wait(timeout=SETTLE_TIMEOUT)
        wait_for(lambda: not pid_alive(child.pid), timeout=SETTLE_TIMEOUT, what="the child to die with its server")
        survivors = [p for p in leftovers[1:] if pid_alive(p.pid)]
        assert len(survivors) == 2  # the grandchild and the escapee outlive the server

        with capture_logs() as logs:
            killed = ChildRecords(path).reap_leftovers()
        assert set(killed) == {p.pid for p in survivors}
        wait_for(lambda: not any(pid_alive(p.pid) for p in leftovers), timeout=SETTLE_TIMEOUT, what="leftovers reaped")
        assert {e["pid"] for e in logs if e["event"] == "records.reaped"} == set(killed)
        assert not path.exists()
    finally:
        with contextlib.suppress(ProcessLookupError):
            server.kill()
        server.wait(timeout=SETTLE_TIMEOUT)
        for pipe in (server.stdin, server.stdout):
            if pipe is not None:
                pipe.close()
        for proc in leftovers:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        wait_for(lambda: not any(pid_alive(p.pid) for p in leftovers), timeout=SETTLE_TIMEOUT, what="none left")
