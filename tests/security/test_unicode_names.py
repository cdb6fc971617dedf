"""Names that display as something else: control and bidi characters are refused in every path; new
names also refuse invisible format characters and look-alikes of an existing name (NFC)."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openwork.errors import ConflictError, OpenworkError, ValidationError
from openwork.files import ops
from openwork.files.pathrules import check_path, open_root

C0_C1 = [chr(c) for c in (*range(0x00, 0x20), *range(0x7F, 0xA0))]
BIDI = list("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
OTHER_CF = ["\u200b", "\u2060", "\ufeff", "\u00ad", "\u061c"]
PLAIN = st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=6)


@given(PLAIN, st.sampled_from(C0_C1 + BIDI), PLAIN)
def test_control_and_bidi_characters_are_refused_in_every_path(before: str, bad: str, after: str) -> None:
    with pytest.raises(ValidationError):
        check_path(f"docs/{before}{bad}{after}")


def test_an_rlo_name_cannot_pose_as_a_png() -> None:
    with pytest.raises(ValidationError):
        check_path("docs/\u202egnp.sh")
    with pytest.raises(ValidationError):
        check_path("a\u0085next")


@given(PLAIN, st.sampled_from(OTHER_CF))
def test_new_names_refuse_invisible_format_characters(
    tmp_path_factory: pytest.TempPathFactory, base: str, cf: str
) -> None:
    root = tmp_path_factory.mktemp("cf")
    fd = open_root(str(root))
    try:
        parts = check_path(base + cf)  # allowed in a path to read...
        with pytest.raises(ValidationError):  # ...but not as a name to create
            ops.write_file(fd, parts, b"x", if_match=None, force=False)
        with pytest.raises(ValidationError):
            ops.mkdir(fd, parts)
        assert os.listdir(root) == []
    finally:
        os.close(fd)


def test_joiners_stay_allowed(tmp_path: Path) -> None:
    fd = open_root(str(tmp_path))
    try:
        ops.write_file(fd, ("\U0001f469\u200d\U0001f4bb.txt",), b"x", if_match=None, force=False)
    finally:
        os.close(fd)


def test_a_name_that_normalises_to_an_existing_one_is_a_conflict_and_reads_use_exact_bytes(tmp_path: Path) -> None:
    tmp_path = tmp_path / "ws"
    tmp_path.mkdir()
    nfd = unicodedata.normalize("NFD", "café.txt")
    (tmp_path / nfd).write_text("from a Mac")
    fd = open_root(str(tmp_path))
    try:
        for attempt in (
            lambda: ops.write_file(fd, ("café.txt",), b"x", if_match=None, force=False),
            lambda: ops.mkdir(fd, ("café.txt",)),
            lambda: ops.rename(fd, (nfd,), ("café.txt",)),
        ):
            with pytest.raises(ConflictError):
                attempt()
        info, _ = ops.read_file(fd, (nfd,), max_bytes=100)
        assert info.size == len("from a Mac")
        ops.write_file(fd, (nfd,), b"updated", if_match=None, force=False)  # the existing name itself
    finally:
        os.close(fd)
    assert sorted(os.listdir(tmp_path)) == [nfd]


@given(st.text(min_size=1, max_size=12))
def test_check_path_never_lets_a_control_character_through(raw: str) -> None:
    try:
        parts = check_path(raw)
    except OpenworkError:
        return
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c in BIDI for p in parts for c in p)
