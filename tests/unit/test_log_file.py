"""The log file: rotation keeps the cap, the file is private and never follows a symlink; reading it back."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from openwork.cli.logs import parse_since, render_record
from openwork.errors import ValidationError
from openwork.logging import LogHub
from openwork.logging.file import LogFileSettings, RotatingLog, log_files, read_records


def _line(n: int) -> str:
    return json.dumps({"timeUnixNano": str(n * 10**9), "severityText": "INFO", "body": f"line {n:05d}" + "x" * 80,
                       "attributes": {"service": "opencode"}})  # fmt: skip


def test_rotation_keeps_the_cap_and_the_newest_lines(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "openwork.jsonl"
    fds = len(os.listdir("/proc/self/fd"))
    log = RotatingLog(LogFileSettings(path=path, max_bytes=4096, backups=2))
    for n in range(500):  # ~55 KB through a 3 x 4 KiB cap
        log.write(_line(n))
    log.close()
    assert len(os.listdir("/proc/self/fd")) == fds  # every rotation closed the file it left
    files = log_files(path)
    assert [p.name for p in files] == ["openwork.jsonl.2", "openwork.jsonl.1", "openwork.jsonl"]
    assert not path.with_name("openwork.jsonl.3").exists()
    assert all(p.stat().st_size <= 4096 for p in files)
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in files)
    records = read_records(path)
    bodies = [r["body"][:10] for r in records]
    assert bodies[-1] == "line 00499" and bodies == sorted(bodies)  # oldest first, nothing reordered
    assert read_records(path, last=3)[0]["body"][:10] == "line 00497"
    odd = read_records(path, last=2, keep=lambda r: int(r["body"][5:10]) % 2 == 1)
    assert [r["body"][:10] for r in odd] == ["line 00497", "line 00499"]


def test_no_backups_cuts_the_file_when_full(tmp_path: Path) -> None:
    path = tmp_path / "openwork.jsonl"
    log = RotatingLog(LogFileSettings(path=path, max_bytes=1024, backups=0))
    for n in range(50):
        log.write(_line(n))
    log.close()
    assert log_files(path) == [path] and path.stat().st_size <= 1024


def test_a_symlink_in_place_of_the_file_is_never_written_through(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_text("precious\n")
    path = tmp_path / "openwork.jsonl"
    path.symlink_to(target)
    log = RotatingLog(LogFileSettings(path=path))
    log.write(_line(1))  # dropped: logging never takes the server down, and never writes through a link
    log.close()
    assert target.read_text() == "precious\n"


def test_a_torn_line_is_ended_before_the_next_record(tmp_path: Path) -> None:
    path = tmp_path / "openwork.jsonl"
    path.write_text(_line(1) + "\n" + '{"timeUnixNano": "2", "bo')  # a crash in the middle of a write
    log = RotatingLog(LogFileSettings(path=path))
    log.write(_line(3))
    log.close()
    assert [r["body"][:10] for r in read_records(path)] == ["line 00001", "line 00003"]


def test_a_file_rotated_by_another_process_is_not_rotated_again(tmp_path: Path) -> None:
    path = tmp_path / "openwork.jsonl"
    log = RotatingLog(LogFileSettings(path=path, max_bytes=1024, backups=3))
    log.write(_line(1))
    path.replace(tmp_path / "openwork.jsonl.1")  # someone else rotated: our fd now points at .1
    path.write_text(_line(2) + "\n")
    for n in range(3, 20):
        log.write(_line(n))
    log.close()
    bodies = [r["body"][:10] for r in read_records(path)]
    assert bodies[0] == "line 00001" and "line 00002" in bodies and bodies[-1] == "line 00019"


def test_a_line_that_is_no_text_is_written_escaped_not_raised(tmp_path: Path) -> None:
    """A lone surrogate (a crafted state file's value in an event) must not take a start down."""
    path = tmp_path / "openwork.jsonl"
    log = RotatingLog(LogFileSettings(path=path, max_bytes=1 << 20, backups=1))
    log.write("before \ud800 after")
    log.write("next")
    log.close()
    assert path.read_bytes() == b"before \\ud800 after\nnext\n"


def test_a_torn_line_is_skipped_when_reading(tmp_path: Path) -> None:
    path = tmp_path / "openwork.jsonl"
    path.write_text(_line(1) + "\n" + '{"timeUnixNano": "2", "bo' + "\n" + "[1, 2]\n" + _line(3) + "\n")
    assert [r["body"][:6] for r in read_records(path)] == ["line 0", "line 0"]


def test_the_hub_writes_every_line_redacted_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "openwork.jsonl"
    hub = LogHub(fmt="pretty", stream=open(os.devnull, "w"), file=RotatingLog(LogFileSettings(path=path)))  # noqa: SIM115
    hub.redactor.add("s3cret-value-123")
    hub.child_line("opencode", "token is s3cret-value-123", stream="stderr")
    hub.close()
    assert hub.stream is not None
    hub.stream.close()
    (record,) = read_records(path)
    assert record["body"] == "token is [REDACTED]"
    assert record["attributes"] == {"service": "opencode", "stream": "stderr"}
    assert "s3cret" not in path.read_text()


def test_since_takes_a_duration_or_a_time() -> None:
    assert parse_since("10m", now=1000.0) == 400.0
    assert parse_since("2h", now=10_000.0) == 2800.0
    assert parse_since("2026-12-02T03:00:00Z", now=0) == 1796180400.0
    with pytest.raises(ValidationError, match="--since"):
        parse_since("yesterday", now=0)


def test_terminal_escapes_in_a_record_are_shown_not_obeyed() -> None:
    record = {"timeUnixNano": "0", "body": "\x1b]52;c;aGk=\x07evil\x9b2J", "attributes": {"service": "opencode"}}
    line = render_record(record)
    assert "\x1b" not in line and "\x07" not in line and "\x9b" not in line and "\\x1b]52" in line


def test_a_record_renders_as_one_line() -> None:
    record = {"timeUnixNano": "1796180400000000000", "severityText": "WARN", "body": "port taken",
              "attributes": {"service": "openwork", "port": 4096, "stream": "stdout"}}  # fmt: skip
    assert render_record(record) == "2026-12-02T03:00:00.000Z [openwork] WARN  port taken port=4096"
