from __future__ import annotations

import io
import json
from pathlib import Path

from openwork.logging import REDACTED, configure_logging, get_logger
from openwork.logging.file import LogFileSettings


def test_child_lines_are_prefixed_and_redacted_in_pretty_mode() -> None:
    out = io.StringIO()
    hub = configure_logging(fmt="pretty", run_id="run_x", stream=out)
    hub.redactor.add("s3cr3t-value-123")
    hub.child_line("opencode", "listening with s3cr3t-value-123")
    assert out.getvalue() == f"[opencode] listening with {REDACTED}\n"
    assert hub.ring("opencode") == [f"listening with {REDACTED}"]


def test_json_records_are_otel_shaped_with_the_run_id() -> None:
    out = io.StringIO()
    hub = configure_logging(fmt="json", run_id="run_abc", stream=out)
    hub.child_line("opencode", "hello", stream="stderr")
    get_logger("test").info("service.state", service="opencode", state="running")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["body"] == "hello" and first["attributes"]["service"] == "opencode"
    assert first["resource"]["openwork.run_id"] == "run_abc"
    assert int(first["timeUnixNano"]) > 0 and first["severityText"] in ("INFO", "ERROR")
    assert second["body"] == "service.state" and second["attributes"]["target"] == "opencode"
    assert second["attributes"]["service"] == "openwork"


def test_nested_secrets_are_scrubbed_on_the_console_in_the_file_and_in_the_ring(tmp_path: Path) -> None:
    out = io.StringIO()
    hub = configure_logging(fmt="pretty", run_id="r", stream=out, log_file=LogFileSettings(path=tmp_path / "l.jsonl"))
    secret = "sk-" + "x" * 300  # longer than a console value is cut to: redacted before the cut
    hub.redactor.add(secret)
    get_logger("test").info("x", argv=["--key", secret], headers={"Authorization": "Basic abc", "ok": "fine"})
    hub.close()
    ring = " ".join(e.text for e in hub.entries())
    for text in (out.getvalue(), (tmp_path / "l.jsonl").read_text(), ring):
        assert "xxxxxxxx" not in text and "Basic abc" not in text, text
        assert "fine" in text


def test_sensitive_keys_and_values_never_reach_the_stream() -> None:
    out = io.StringIO()
    hub = configure_logging(fmt="json", run_id="r", stream=out)
    hub.redactor.add("tok-AAAAAAAAAAAA")
    get_logger("test").info("x", client_token="anything", note="has tok-AAAAAAAAAAAA inside")
    text = out.getvalue()
    assert "tok-AAAAAAAAAAAA" not in text and "anything" not in text
    assert text.count(REDACTED) == 2


def test_ring_keeps_the_last_800_lines() -> None:
    hub = configure_logging(fmt="pretty", run_id="r", stream=io.StringIO())
    for i in range(1000):
        hub.child_line("svc", f"line {i}")
    ring = hub.ring("svc")
    assert len(ring) == 800 and ring[0] == "line 200" and ring[-1] == "line 999"
