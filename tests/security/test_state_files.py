"""Hostile or corrupt state files read at start never stop a start (issue 16, finding 7).

``<data>/run/children.json`` is the state file the supervisor reads at start (the server record
``server.json`` is only written there, and read by the CLI). Whatever it holds, the start logic
(``reap_leftovers`` then ``add``) does not raise, and a file that is not a list of child records is
moved aside under a name of its own, with a log line.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openwork.logging import capture_logs
from openwork.store.atomic import move_aside
from openwork.supervisor.records import ChildRecord, ChildRecords
from tests.helpers import FIXTURES, ServerProcess, serve_args, wait_for

FAKE = str(FIXTURES / "fake_opencode.py")

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


_DEAD = _dead_pid()  # pointing at nothing: the hypothesis runs never aim at a live process
VALID: dict[str, Any] = {
    "service": "opencode",
    "pid": _DEAD,
    "pgid": _DEAD,
    "create_time": 1.0,
    "owner_pid": _DEAD,
    "owner_create_time": 1.0,
    "nonce": "0" * 32,
    "boot_id": "boot",
}
_INTS = {"pid", "pgid", "owner_pid"}
_FLOATS = {"create_time", "owner_create_time"}


def _wrong_type(field: str) -> st.SearchStrategy[Any]:
    """A value of a JSON type the field does not take."""
    strings = st.text(max_size=10)
    containers = st.lists(st.integers(), max_size=2) | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
    if field in _INTS:
        return strings | containers | st.booleans() | st.none() | st.floats(allow_nan=False, allow_infinity=False)
    if field in _FLOATS:
        return strings | containers | st.booleans() | st.none()
    if field == "service":
        return st.integers() | st.floats(allow_nan=False) | containers | st.booleans() | st.none()
    return st.integers() | st.floats(allow_nan=False) | containers | st.booleans()  # nonce, boot_id: None is fine


@st.composite
def wrong_typed_records(draw: st.DrawFn) -> bytes:
    """A list of records with at least one field of the wrong type (or missing)."""
    records = []
    for _ in range(draw(st.integers(1, 3))):
        item: dict[str, Any] = dict(VALID)
        for field in draw(st.sets(st.sampled_from(sorted(VALID)), min_size=1, max_size=3)):
            if draw(st.booleans()) and field not in ("nonce", "boot_id"):
                del item[field]
            else:
                item[field] = draw(_wrong_type(field))
        records.append(item)
    return json.dumps(records).encode()


def _valid(raw: bytes) -> bool:
    """What a correct reader accepts of the garbage below: nothing but no records at all."""
    if not raw.strip():
        return True
    try:
        return bool(json.loads(raw.decode("utf-8")) == [])
    except ValueError:  # UnicodeDecodeError included
        return False


HUGE = b"9" * 400  # a whole number no float holds
garbage = st.one_of(
    st.binary(max_size=64),
    _json.map(lambda v: json.dumps(v).encode()),
    wrong_typed_records(),
    st.just(b'[{"service": "x", "pid": "1", "pgid": 1, "create_time": 0, "owner_pid": 1, "owner_create_time": 0}]'),
    st.just(json.dumps([{**VALID, "pid": True}]).encode()),
    # A whole number past a float's range, a lone surrogate (escaped and raw), other encodings of "[]".
    st.just(json.dumps([{**VALID, "create_time": 0}]).encode().replace(b'"create_time": 0', b'"create_time": ' + HUGE)),
    st.just(json.dumps([{**VALID, "service": "\ud800"}]).encode()),
    st.just(json.dumps([{**VALID, "service": "X"}]).encode().replace(b'"X"', b'"\xed\xa0\x80"')),
    st.just(b"\xef\xbb\xbf[]"),
    st.just("[]".encode("utf-16")),
)


@settings(max_examples=300, deadline=None)
@given(raw=garbage)
def test_garbage_children_file_never_stops_a_start_and_is_moved_aside(
    tmp_path_factory: pytest.TempPathFactory, raw: bytes
) -> None:
    folder = tmp_path_factory.mktemp("run")
    path = folder / "children.json"
    path.write_bytes(raw)
    records = ChildRecords(path)
    with capture_logs() as logs:
        assert records.reap_leftovers() == []
        mine = ChildRecord.for_child(service="opencode", pid=os.getpid(), pgid=os.getpgid(0), create_time=1.0)
        records.add(mine)  # the start goes on and records its child
    assert records.all() == [mine]
    aside = sorted(p.name for p in folder.iterdir() if p.name != "children.json")
    if _valid(raw):
        assert aside == []
        assert not [e for e in logs if e["event"] == "records.unreadable"]
    else:
        assert len(aside) == 1 and aside[0].startswith("children.json.bad-"), aside
        assert (folder / aside[0]).read_bytes() == raw  # kept as it was, for a post-mortem
        [event] = [e for e in logs if e["event"] == "records.unreadable"]
        assert event["moved_to"] == str(folder / aside[0])
        assert event["log_level"] == "warning"


def test_odd_file_kinds_are_moved_aside_too(tmp_path: Path) -> None:
    """A symlink (never followed), a directory, a FIFO (never a hang) and an oversized file."""
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps([VALID]))
    cases = tmp_path / "cases"
    cases.mkdir()
    for make in (
        lambda p: p.symlink_to(target),
        lambda p: p.mkdir(),
        lambda p: os.mkfifo(p),
        lambda p: p.write_bytes(b"[" + b" " * (2 << 20) + b"]"),
    ):
        folder = cases / str(len(list(cases.iterdir())))
        folder.mkdir()
        path = folder / "children.json"
        make(path)
        with capture_logs() as logs:
            assert ChildRecords(path).reap_leftovers() == []
        assert not os.path.lexists(path)
        assert [p.name.startswith("children.json.bad-") for p in folder.iterdir()] == [True]
        assert any(e["event"] == "records.unreadable" for e in logs)
    assert json.loads(target.read_text()) == [VALID]  # the symlink's target is untouched


def test_moved_aside_names_never_collide(tmp_path: Path) -> None:
    """Many bad files within one second each keep their own name: none overwrites another."""
    (tmp_path / "run").mkdir()
    path = tmp_path / "run" / "children.json"
    for i in range(200):
        path.write_text(str(i))
        move_aside(path)
    names = list(path.parent.iterdir())
    assert len(names) == 200
    assert sorted(int(p.read_text()) for p in names) == list(range(200))


def test_a_server_starts_despite_a_wrong_typed_children_file(
    tmp_path: Path, workspace: Path, isolated_env: Path, serve: list[ServerProcess]
) -> None:
    """The reported failure: a ``TypeError`` traceback on every start until the file was deleted."""
    run = isolated_env / "run"
    run.mkdir(parents=True)
    bad = [{**VALID, "pid": "not a pid", "create_time": "yesterday"}]
    (run / "children.json").write_text(json.dumps(bad))
    server = ServerProcess(serve_args(workspace, FAKE))
    serve.append(server)
    server.start(log_file=tmp_path / "server.log")
    assert "Traceback" not in server.logs()
    assert "records.unreadable" in server.logs()
    moved = wait_for(lambda: [p for p in run.iterdir() if p.name.startswith("children.json.bad-")], timeout=10)
    assert json.loads(moved[0].read_text()) == bad
