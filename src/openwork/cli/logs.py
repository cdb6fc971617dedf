"""``openwork logs``: the unified log (server and children), from the log file in the data dir or, with
``--openwork-url``, from a server's ``GET /system/logs`` (host token)."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlencode

import click

from openwork.cli.client import ServerTarget, find_target, request
from openwork.cli.options import data_dir_option, host_token_option, json_option, openwork_url_option
from openwork.errors import ValidationError
from openwork.logging.file import parse_record, read_records, record_time
from openwork.paths import DataDir
from openwork.wire import iso

__all__ = ["logs_cmd", "parse_since", "render_record"]

FOLLOW_POLL = 0.25  # seconds between looks at the file (or the API) for new lines
DEFAULT_LINES = 200
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def parse_since(raw: str, *, now: float) -> float:
    """``--since``: a duration back from now (``30s``, ``10m``, ``2h``, ``1d``) or an ISO 8601 time."""
    match = _DURATION.match(raw.strip())
    if match:
        return now - float(match.group(1)) * _UNITS[match.group(2)]
    try:
        moment = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"--since {raw!r}: give a duration (30s, 10m, 2h, 1d) or an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # a local time, as the user reads their clock
    return moment.timestamp()


def render_record(record: dict[str, Any]) -> str:
    """One record as a line: time, service, level, text and attributes."""
    attributes = dict(record.get("attributes") or {})
    service = attributes.pop("service", "?")
    attributes.pop("stream", None)
    extras = " ".join(f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in attributes.items())
    level = str(record.get("severityText", "INFO"))
    body = f"{record.get('body', '')} {extras}".rstrip()
    # A child's output may carry terminal escapes (clipboard writes, cursor moves): shown, never obeyed.
    return _CONTROL.sub(
        lambda m: f"\\x{ord(m.group()):02x}", f"{iso(record_time(record))} [{service}] {level:<5} {body}"
    )


def _wanted(service: str | None, since: float | None) -> Callable[[dict[str, Any]], bool]:
    def keep(record: dict[str, Any]) -> bool:
        if service is not None and (record.get("attributes") or {}).get("service") != service:
            return False
        return since is None or record_time(record) >= since

    return keep


def _tail_file(path: Path, start: tuple[int, int] | None) -> Iterator[dict[str, Any]]:
    """Records appended to the live file after ``start`` (its inode and size when the history was read;
    None: it did not exist, so all of it); follows a rotation (the file replaced or truncated: the new one
    is read from its start). A line still being written waits for its end."""
    handle: TextIO | None = None
    inode = 0
    pending = ""
    try:
        while True:
            if handle is None:
                try:
                    handle = path.open(encoding="utf-8", errors="replace")
                except OSError:
                    time.sleep(FOLLOW_POLL)
                    continue
                inode = os.fstat(handle.fileno()).st_ino
                if start is not None and start[0] == inode:
                    handle.seek(start[1])  # what came before was printed with the history
                start = None
            pending += handle.readline()
            if pending.endswith("\n"):
                record, pending = parse_record(pending), ""
                if record is not None:
                    yield record
                continue
            if _replaced(path, inode, handle.tell()):
                handle.close()
                handle, pending = None, ""
                continue
            time.sleep(FOLLOW_POLL)
    finally:
        if handle is not None:
            handle.close()


def _position(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_ino, info.st_size


def _replaced(path: Path, inode: int, position: int) -> bool:
    try:
        now = os.stat(path)
    except OSError:
        return False  # between the rename and the new file: look again at the next poll
    return now.st_ino != inode or now.st_size < position


def _emit(record: dict[str, Any], as_json: bool) -> None:
    click.echo(json.dumps(record, ensure_ascii=False) if as_json else render_record(record))


def _api_records(target: ServerTarget, service: str | None, after: int, limit: int) -> list[dict[str, Any]]:
    """A page of ``GET /system/logs`` as log-file records (with the API's ``seq``)."""
    params: dict[str, str | int] = {"after": after, "limit": limit} | ({"service": service} if service else {})
    page = request(target, "GET", "/system/logs?" + urlencode(params))
    return [
        {
            "seq": item["seq"],
            "timeUnixNano": str(int(item["at"] * 1e9)),
            "severityText": item["level"],
            "body": item["text"],
            "attributes": {"service": item["service"]},
        }
        for item in page["items"]
    ]


@click.command("logs")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines as they come (Ctrl-C stops).")
@click.option("--service", help="Only this source: openwork, opencode, router, sandbox.")
@click.option("--since", help="Only lines since: a duration back (30s, 10m, 2h, 1d) or an ISO 8601 time.")
@click.option(
    "--lines",
    "-n",
    type=click.IntRange(1, 100_000),
    default=DEFAULT_LINES,
    show_default=True,
    help="How many of the newest lines to print first.",
)
@openwork_url_option
@host_token_option
@data_dir_option
@json_option
def logs_cmd(
    follow: bool,
    service: str | None,
    since: str | None,
    lines: int,
    openwork_url: str | None,
    host_token: str | None,
    data_dir: Path | None,
    json_output: bool,
) -> None:
    """The unified log of the server and its children, redacted.

    It is read from the data dir's log file (<data>/logs/openwork.jsonl, rotated by size), or from a
    server's API with --openwork-url (host token).

    \b
      openwork logs -n 50                 the last 50 lines
      openwork logs --service opencode -f follow opencode's output
      openwork logs --since 10m --json    JSON records (one per line) of the last ten minutes
    """
    keep = _wanted(service, parse_since(since, now=time.time()) if since else None)
    try:
        if openwork_url:
            _from_api(openwork_url, host_token, service, keep, lines, follow, json_output)
            return
        path = DataDir.at(data_dir).log_file
        start = _position(path)  # before the history: what is written meanwhile is followed, not lost
        found = read_records(path, last=lines, keep=keep)
        if not found and not follow and start is None:
            click.echo(f"no log yet at {path} (it is written while a server runs from this data dir)", err=True)
        for record in found:
            _emit(record, json_output)
        if follow:
            for record in _tail_file(path, start):
                if keep(record):
                    _emit(record, json_output)
    except KeyboardInterrupt:
        sys.exit(0)


def _from_api(
    url: str,
    token: str | None,
    service: str | None,
    keep: Callable[[dict[str, Any]], bool],
    lines: int,
    follow: bool,
    json_output: bool,
) -> None:
    target = find_target(url=url, token=None, data_dir=None, host_token=token)  # explicit: no stored tokens
    after = 0
    first = True
    while True:
        records = _api_records(target, service, after, 5000)
        if records:
            after = int(records[-1]["seq"])
        shown = [r for r in records if keep(r)]
        for record in shown[-lines:] if first else shown:
            record.pop("seq", None)
            _emit(record, json_output)
        first = False
        if not follow:
            return
        time.sleep(FOLLOW_POLL)
