from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from openwork.supervisor.lines import TRUNCATED_MARK, LineSplitter


def test_lines_split_across_chunks() -> None:
    s = LineSplitter()
    assert s.feed(b"hel") == []
    assert s.feed(b"lo\nwor") == ["hello"]
    assert s.feed(b"ld\r\n\n") == ["world", ""]
    assert s.flush() == []


def test_overlong_line_is_cut_and_the_rest_discarded_until_newline() -> None:
    s = LineSplitter(max_bytes=8)
    out = s.feed(b"0123456789abcdef")
    assert out == ["01234567" + TRUNCATED_MARK]
    assert s.feed(b"more junk") == []
    assert s.feed(b"\nnext\n") == ["next"]


def test_invalid_utf8_is_replaced() -> None:
    assert LineSplitter().feed(b"ok \xff\xfe bytes\n") == ["ok \ufffd\ufffd bytes"]


def test_unterminated_tail_is_flushed() -> None:
    s = LineSplitter()
    s.feed(b"last words")
    assert s.flush() == ["last words"]


@given(st.lists(st.binary(max_size=50), max_size=30), st.integers(min_value=1, max_value=40))
def test_buffer_never_exceeds_the_cap(chunks: list[bytes], cap: int) -> None:
    s = LineSplitter(max_bytes=cap)
    for chunk in chunks:
        for line in s.feed(chunk):
            assert len(line.removesuffix(TRUNCATED_MARK).encode("utf-8", "surrogatepass")) <= cap * 3
        assert len(s._buf) <= cap


@given(
    st.lists(
        st.text(alphabet=st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)), max_size=20),
        max_size=20,
    )
)
def test_round_trip_of_short_lines(lines: list[str]) -> None:
    data = "".join(line + "\n" for line in lines).encode()
    s = LineSplitter(max_bytes=1024)
    out = []
    for i in range(0, len(data), 7):
        out.extend(s.feed(data[i : i + 7]))
    assert out == lines
