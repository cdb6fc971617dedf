"""SSE framing: whatever the payload or event name, a frame parses back to exactly one event with the
same data; nothing a payload carries can start a new field or a new event."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from openwork.api.sse import format_event

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def parse_stream(raw: bytes) -> list[dict[str, Any]]:
    """A parser that follows the WHATWG event-stream rules (CR, LF and CRLF all end a line)."""
    events: list[dict[str, Any]] = []
    fields: dict[str, Any] = {}
    for line in re.split(r"\r\n|\r|\n", raw.decode("utf-8")):
        if line == "":
            if fields:
                events.append(fields)
            fields = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            fields["data"] = fields["data"] + "\n" + value if "data" in fields else value
        else:
            fields[name] = value
    return events


@given(data=_json, event=st.none() | st.text(), ident=st.none() | st.integers(min_value=0))
def test_one_frame_is_one_event_with_the_same_data(data: Any, event: str | None, ident: int | None) -> None:
    frame = format_event(data=data, event=event, id=ident)
    assert frame.endswith(b"\n\n")
    (parsed,) = parse_stream(frame)
    assert json.loads(parsed["data"]) == data
    assert set(parsed) <= {"data", "event", "id"}
    if ident is not None:
        assert parsed["id"] == str(ident)
    if event is not None:
        assert parsed["event"] == event.replace("\n", " ").replace("\r", " ")


@given(payloads=st.lists(_json, min_size=1, max_size=5))
def test_consecutive_frames_never_merge(payloads: list[Any]) -> None:
    stream = b"".join(format_event(data=p, event="update") for p in payloads)
    parsed = parse_stream(stream)
    assert [json.loads(e["data"]) for e in parsed] == payloads
