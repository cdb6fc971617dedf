"""One log stream for the server and its children: pretty lines or OTel-shaped JSON, always redacted.

Our own events are structured: ``log.info("service.state", service="opencode", state="running")`` through
a :class:`Logger` from :func:`get_logger`; child output lines go through the same sink and the same
redaction, so a secret a child echoes never reaches the terminal or a log file.

Why not structlog (the stack's first choice): the hub below renders every line itself, so structlog only
carried events from the call to the hub, and importing it loads rich and pygments for a development
renderer we never use, on the way to opencode's spawn (docs/benchmarks.md, "Start-up overhead").
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from openwork.constants import DEFAULT_LOG_RING_LINES
from openwork.logging.file import LogFileSettings, RotatingLog

if TYPE_CHECKING:
    from openwork.config import LogFormat

__all__ = ["LogEntry", "LogHub", "Logger", "Redactor", "capture_logs", "configure_logging", "get_hub", "get_logger"]

REDACTED = "[REDACTED]"
_SENSITIVE_KEYS = ("token", "password", "secret", "authorization")
_RANK = {"DEBUG": 0, "INFO": 1, "WARN": 2, "ERROR": 3, "FATAL": 4}


class Redactor:
    """Replaces registered secret values anywhere in a string."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def add(self, *values: str) -> None:
        with self._lock:
            self._values.update(v for v in values if v and len(v) >= 8)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()

    def __call__(self, text: str) -> str:
        for value in tuple(self._values):  # a snapshot: another thread may add a secret meanwhile
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def scrub_event(self, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        """Mask sensitive keys and scrub secret values from every string of one event, nested ones too, in
        place."""
        for key, value in list(event.items()):
            event[key] = self._scrub(key, value)
        return event

    def _scrub(self, key: str, value: Any) -> Any:
        if value is not None and any(s in key.lower() for s in _SENSITIVE_KEYS):
            return REDACTED
        if isinstance(value, str):
            return self(value)
        if isinstance(value, Mapping):
            return {k: self._scrub(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self._scrub("", v) for v in value]
        return value


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One line of the unified stream, as the dashboard and ``GET /system/logs`` see it (redacted)."""

    seq: int
    at: float
    service: str
    level: str
    text: str
    stream: str = "stdout"  # a child's stdout or stderr; our own events count as stdout


class LogHub:
    """The sink: renders records, keeps a ring of recent lines per service."""

    def __init__(
        self,
        *,
        fmt: LogFormat = "pretty",
        run_id: str = "",
        stream: TextIO | None = None,
        file: RotatingLog | None = None,
        console_level: str = "INFO",
    ) -> None:
        """``console_level``: the least severe level the console (``stream``) shows; the log file, the
        rings and ``/system/logs`` keep every line whatever it is."""
        self.fmt: LogFormat = fmt
        self._console_rank = _RANK.get(console_level.upper(), 1)
        self.run_id = run_id
        self.stream = stream
        self.file = file  # every line also goes here as a JSON record (the log file), whatever ``fmt`` is
        self.redactor = Redactor()
        self._rings: dict[str, deque[str]] = {}
        self._entries: dict[str, deque[LogEntry]] = {}
        self._seq = 0
        self._lock = threading.Lock()

    def _remember(self, service: str, level: str, text: str, stream: str = "stdout") -> None:
        with self._lock:
            self._seq += 1
            ring = self._entries.setdefault(service, deque(maxlen=DEFAULT_LOG_RING_LINES))
            ring.append(LogEntry(self._seq, time.time(), service, level, text, stream))

    def entries(self, *, after: int = 0, service: str | None = None, limit: int = 1000) -> list[LogEntry]:
        """Recent lines with ``seq > after``, oldest first (each service keeps its last 800)."""
        with self._lock:
            rings = [self._entries.get(service, deque())] if service else list(self._entries.values())
            found = [e for ring in rings for e in ring if e.seq > after]
        found.sort(key=lambda e: e.seq)
        return found[-limit:]

    def ring(self, service: str) -> list[str]:
        with self._lock:
            return list(self._rings.get(service, ()))

    def tail(self, service: str, count: int) -> list[str]:
        return self.ring(service)[-count:]

    def child_line(self, service: str, line: str, *, stream: str = "stdout") -> None:
        """Record and emit one line of a child's output."""
        clean = self.redactor(line)
        with self._lock:
            self._rings.setdefault(service, deque(maxlen=DEFAULT_LOG_RING_LINES)).append(clean)
        level = "ERROR" if stream == "stderr" and "error" in clean.lower() else "INFO"
        self._remember(service, level, clean, stream)
        record = self._record(service=service, body=clean, level=level, attributes={"stream": stream})
        if _RANK.get(level, 1) >= self._console_rank:
            self._write(record if self.fmt == "json" else f"[{service}] {clean}")

    def event(self, level: str, message: str, event: MutableMapping[str, Any]) -> None:
        """Record and emit one of our own events (``level`` as in ``_RANK``; ``event``: its fields)."""
        self.redactor.scrub_event(event)
        message = self.redactor(message)
        about = event.pop("service", None)
        if about is not None:
            event["target"] = about  # the service an event is about; the source is always us
        extras = " ".join(f"{k}={_short(v)}" for k, v in event.items())
        text = f"{message} {extras}".rstrip()
        self._remember("openwork", level, text)
        record = self._record(service="openwork", body=message, level=level, attributes=event)
        if _RANK.get(level, 1) < self._console_rank:
            return
        if self.fmt == "json":
            self._write(record)
            return
        if level in ("WARN", "ERROR", "FATAL"):
            text = f"{level.lower()}: {text}"
        self._write(self.redactor(f"[openwork] {text}"))  # values scrub_event cannot see: str() of an object

    def _json(self, *, service: str, body: str, level: str, attributes: MutableMapping[str, Any]) -> str:
        """One OTel-shaped JSON record: the ``--log-format json`` line and the log file's."""
        record = {
            "timeUnixNano": str(time.time_ns()),
            "severityText": level,
            "body": body,
            "attributes": {"service": service, **{k: _jsonable(v) for k, v in attributes.items()}},
            "resource": {"service.name": "openwork", "openwork.run_id": self.run_id},
        }
        return json.dumps(record, ensure_ascii=False, separators=(",", ":"))

    def _record(self, *, service: str, body: str, level: str, attributes: MutableMapping[str, Any]) -> str:
        """The line as a redacted JSON record (the whole line: scrub_event sees strings and containers only,
        not what ``str()`` of another object holds), written to the log file; built once, as it is also the
        console's line in ``--log-format json``. Empty when neither wants it."""
        if self.file is None and self.fmt != "json":
            return ""
        record = self.redactor(self._json(service=service, body=body, level=level, attributes=attributes))
        if self.file is not None:
            self.file.write(record)
        return record

    def close(self) -> None:
        """Close the log file (the console stream is not ours)."""
        if self.file is not None:
            self.file.close()

    def _write(self, text: str) -> None:
        stream = self.stream or sys.stderr
        with self._lock:
            try:
                stream.write(text + "\n")
                stream.flush()
            except (OSError, ValueError):
                pass  # a closed terminal must not take the server down


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(_jsonable(value))
    return text if len(text) <= 200 else text[:197] + "..."


def _jsonable(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, Iterable):
        return [_jsonable(v) for v in value]
    return str(value)


_hub = LogHub()
_least_rank = _RANK["INFO"]  # debug events only with --verbose
_captured: list[dict[str, Any]] | None = None


class Logger:
    """Structured events of one part of the server: ``log.warning("records.reaped", pid=12)``.

    Every event goes to the hub configured last (:func:`configure_logging`); before that, to stderr.
    ``name`` says which part logs (as a logging name would); the hub's records name the service."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def debug(self, event: str, **fields: Any) -> None:
        _emit("DEBUG", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        _emit("INFO", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        _emit("WARN", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        _emit("ERROR", event, fields)


def get_logger(name: str) -> Logger:
    return Logger(name)


def _emit(level: str, event: str, fields: dict[str, Any]) -> None:
    if _captured is not None:
        _captured.append({"event": event, "log_level": "warning" if level == "WARN" else level.lower(), **fields})
        return
    if _RANK[level] >= _least_rank:
        _hub.event(level, event, fields)


@contextmanager
def capture_logs() -> Iterator[list[dict[str, Any]]]:
    """Collect the events logged inside the block (``{"event": name, "log_level": ..., **fields}``)
    instead of emitting them: for tests."""
    global _captured
    previous, _captured = _captured, []
    try:
        yield _captured
    finally:
        _captured = previous


def get_hub() -> LogHub:
    return _hub


def configure_logging(
    *,
    fmt: LogFormat,
    run_id: str,
    verbose: bool = False,
    stream: TextIO | None = None,
    log_file: LogFileSettings | None = None,
    console_level: str = "INFO",
) -> LogHub:
    """Point our events and child output at one hub (and the log file, when given). Returns the hub (also
    ``get_hub()``)."""
    global _hub, _least_rank
    _hub.close()  # a hub configured before (tests configure several in one process) lets go of its file
    file = RotatingLog(log_file) if log_file else None
    _hub = LogHub(fmt=fmt, run_id=run_id, stream=stream, file=file, console_level=console_level)
    _least_rank = _RANK["DEBUG"] if verbose else _RANK["INFO"]
    return _hub
