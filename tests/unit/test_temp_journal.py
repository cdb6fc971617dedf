"""The journal of temp files in flight: what recovery removes, and what it never touches (issue 16, 11)."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from openwork.errors import ValidationError
from openwork.files import catalog, ops
from openwork.files.tempjournal import COMPACT_BYTES, JOURNAL_NAME, TEMP_PREFIX, TempJournal, temp_name

KEEP = b"someone else's\n"
WRITES_PAST_TWO_COMPACTIONS = 2 * COMPACT_BYTES // 64  # entries here are longer than 64 bytes


@pytest.fixture
def journal(tmp_path: Path) -> TempJournal:
    j = TempJournal(tmp_path / "run" / JOURNAL_NAME)
    j.recover()
    return j


@pytest.fixture
def root_fd(workspace: Path) -> Iterator[int]:
    fd = os.open(workspace, os.O_RDONLY | os.O_DIRECTORY)
    yield fd
    os.close(fd)


def _list(journal: TempJournal, *paths: bytes | str | Path) -> None:
    journal.path.write_bytes(b"".join(os.fsencode(p) + b"\0" for p in paths))


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.startswith(TEMP_PREFIX))


def test_recovery_removes_only_listed_regular_temp_files(journal: TempJournal, workspace: Path, tmp_path: Path) -> None:
    (workspace / "sub").mkdir()
    listed = workspace / "sub" / f"{TEMP_PREFIX}aaaaaaaaaaaa"
    unlisted = workspace / f"{TEMP_PREFIX}bbbbbbbbbbbb"
    not_a_temp = workspace / "README.md"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / f"{TEMP_PREFIX}cccccccccccc").write_bytes(KEEP)
    link_to_outside = workspace / "linked"
    link_to_outside.symlink_to(outside)  # a listed path through a symlinked folder is not followed
    target = tmp_path / "target.txt"
    target.write_bytes(KEEP)
    temp_symlink = workspace / f"{TEMP_PREFIX}dddddddddddd"
    temp_symlink.symlink_to(target)  # a listed temp name that is a symlink: neither it nor its target goes
    temp_dir = workspace / f"{TEMP_PREFIX}eeeeeeeeeeee"
    temp_dir.mkdir()
    for path in (listed, unlisted):
        path.write_bytes(KEEP)
    _list(
        journal,
        listed,
        listed,  # listed twice: removed once, no error
        not_a_temp,
        link_to_outside / f"{TEMP_PREFIX}cccccccccccc",
        temp_symlink,
        temp_dir,
        f"sub/{TEMP_PREFIX}ffffffffffff",  # relative: never resolved against anything
        f"{workspace}/../workspace/{TEMP_PREFIX}999999999999",
        f"{workspace}/{TEMP_PREFIX}abc",  # not a name temp_name() makes (a torn entry reads so)
    )
    with journal.path.open("ab") as torn:  # a crash during an append: no terminator, ignored
        torn.write(os.fsencode(unlisted))

    assert journal.recover() == [str(listed)]

    assert not listed.exists()
    assert unlisted.read_bytes() == KEEP and not_a_temp.read_text() == "demo workspace\n"
    assert (outside / f"{TEMP_PREFIX}cccccccccccc").read_bytes() == KEEP
    assert temp_symlink.is_symlink() and target.read_bytes() == KEEP and temp_dir.is_dir()
    assert journal.path.read_bytes() == b""


def test_recovery_with_no_journal_yet_creates_nothing_to_trip_on(tmp_path: Path) -> None:
    journal = TempJournal(tmp_path / "fresh" / "run" / JOURNAL_NAME)
    assert journal.recover() == []
    assert journal.path.parent.is_dir() and (journal.path.parent.stat().st_mode & 0o077) == 0


def test_a_write_journals_its_temp_file_and_empties_the_journal_after(
    journal: TempJournal, workspace: Path, root_fd: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bytes] = []
    real_rename = os.rename

    def rename(*args: object, **kwargs: object) -> None:
        seen.append(journal.path.read_bytes())  # the temp file is listed while it exists
        real_rename(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "rename", rename)
    ops.write_file(root_fd, ("docs", "a.txt"), b"hello", if_match=None, force=False, journal=journal)
    [framed] = seen
    entry = framed.strip(b"\0")
    assert framed == b"\0" + entry + b"\0" and entry.startswith(os.fsencode(workspace / "docs" / TEMP_PREFIX))
    assert journal.live == 0 and journal.path.read_bytes() == b""
    assert _temps(workspace) == [] and (workspace / "docs" / "a.txt").read_bytes() == b"hello"


def test_a_failed_write_removes_its_temp_file_and_its_entry(
    journal: TempJournal, workspace: Path, root_fd: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_rename(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "rename", failing_rename)
    with pytest.raises(ValidationError):
        ops.write_file(root_fd, ("a.txt",), b"a", if_match=None, force=False, journal=journal)
    assert _temps(workspace) == [] and journal.live == 0 and journal.path.read_bytes() == b""


def test_a_temp_file_that_cannot_be_removed_stays_listed_for_the_next_start(
    journal: TempJournal, workspace: Path, root_fd: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "rename", failing)
    monkeypatch.setattr(os, "unlink", failing)
    with pytest.raises(ValidationError):
        ops.write_file(root_fd, ("a.txt",), b"a", if_match=None, force=False, journal=journal)
    monkeypatch.undo()
    [left] = _temps(workspace)
    assert journal.live == 1
    assert TempJournal(journal.path).recover() == [str(workspace / left)]  # the next start
    assert _temps(workspace) == []


def test_refused_writes_never_create_a_temp_file_or_an_entry(
    journal: TempJournal, workspace: Path, root_fd: int
) -> None:
    (workspace / "folder").mkdir()
    for parts in ((f"{TEMP_PREFIX}x",), ("folder",), ("README.md", "under-a-file")):
        with pytest.raises(Exception):  # noqa: B017 - each is refused for its own reason
            ops.write_file(root_fd, parts, b"a", if_match=None, force=False, journal=journal)
    assert (not journal.path.exists() or journal.path.read_bytes() == b"") and _temps(workspace) == []


def test_the_journal_stays_small_while_other_writes_are_in_flight(
    journal: TempJournal, root_fd: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "fsync", lambda fd: None)  # durability is not what this counts; bytes are
    held = journal.add(root_fd, temp_name())  # a write in flight all along
    for index in range(WRITES_PAST_TWO_COMPACTIONS):
        journal.done(journal.add(root_fd, f"{TEMP_PREFIX}{index:012x}"))
        assert journal.path.stat().st_size <= COMPACT_BYTES + len(held) + 2 + 4096
    assert journal.live == 1 and held in journal.path.read_bytes()
    journal.done(held)
    assert journal.path.read_bytes() == b""


def test_the_catalog_never_lists_temp_files(workspace: Path, root_fd: int) -> None:
    (workspace / f"{TEMP_PREFIX}leftover").write_bytes(b"x")
    (workspace / "docs").mkdir()
    (workspace / "docs" / f"{TEMP_PREFIX}leftover").write_bytes(b"x")
    page = catalog.snapshot(root_fd, prefix=None, after=None, limit=100, include_dirs=True)
    assert [i.path for i in page.items] == ["README.md", "docs"]


def test_a_journal_that_is_a_symlink_is_moved_aside_and_never_followed(tmp_path: Path, workspace: Path) -> None:
    victim = workspace / f"{TEMP_PREFIX}victim"
    victim.write_bytes(KEEP)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(os.fsencode(victim) + b"\0")  # what the link points at is not our journal
    path = tmp_path / "run" / JOURNAL_NAME
    path.parent.mkdir()
    path.symlink_to(elsewhere)
    assert TempJournal(path).recover() == []
    assert victim.read_bytes() == KEEP and elsewhere.read_bytes() == os.fsencode(victim) + b"\0"
    assert not path.is_symlink() and [p.name for p in path.parent.iterdir() if ".bad-" in p.name]


def test_an_append_torn_by_a_crash_or_a_full_disk_never_swallows_the_next_entry(
    journal: TempJournal, workspace: Path
) -> None:
    first, second = workspace / temp_name(), workspace / temp_name()
    for path in (first, second):
        path.write_bytes(KEEP)
    torn = os.fsencode(first)[:-3]  # the first append stopped three bytes short, without its closing NUL
    journal.path.write_bytes(b"\0" + torn + b"\0" + os.fsencode(second) + b"\0")
    assert journal.recover() == [str(second)]
    assert first.read_bytes() == KEEP  # its entry was cut short, so it is not a temp name: left alone


def test_only_names_from_temp_name_can_be_journaled(journal: TempJournal, root_fd: int) -> None:
    for name in (f"{TEMP_PREFIX}x", "README.md", f"{TEMP_PREFIX}0123456789AB", f"a/{temp_name()}"):
        with pytest.raises(ValueError, match="temp_name"):
            journal.add(root_fd, name)
