"""Finding a running server and calling it from the CLI (the thin-client commands)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from openwork.cli.options import data_dir_option, host_token_option, json_option, openwork_url_option
from openwork.cli.wire import exchange
from openwork.constants import DEFAULT_HTTP_TIMEOUT, DEFAULT_PORT
from openwork.errors import (
    AuthError,
    ForbiddenError,
    NotFoundError,
    OpenworkError,
    Unreachable,
    ValidationError,
    WireError,
)
from openwork.paths import DataDir

__all__ = ["ServerTarget", "Unreachable", "connection_options", "find_target", "request", "server_record"]


@dataclass(frozen=True, kw_only=True, slots=True)
class ServerTarget:
    url: str
    data_dir: Path
    explicit: bool  # the user named the server: never start a daemon in its place
    token: str | None = field(repr=False, default=None)
    host_token: str | None = field(repr=False, default=None)

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        if self.host_token:
            headers["x-openwork-host-token"] = self.host_token
        return headers


def connection_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--openwork-url``, ``--token``/``--openwork-token``, ``--host-token``, ``--data-dir``, ``--json`` (names as
    the original)."""
    options = [
        openwork_url_option,
        click.option(
            "--token",
            "--openwork-token",
            "token",
            envvar="OPENWORK_TOKEN",
            help="Client token (prefer the env var OPENWORK_TOKEN).",
        ),
        host_token_option,
        data_dir_option,
        json_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


def server_record(data_dir: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(DataDir(data_dir).server_record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("url"), str) else None


def _stored(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        return None  # absent or unreadable: the server will answer 401, which says more


def find_target(
    *, url: str | None, token: str | None, data_dir: Path | None, host_token: str | None = None
) -> ServerTarget:
    """URL: flag/env > the local server's record in the data dir > the default port.
    Tokens: flag/env; for the local server, the token files in the data dir."""
    dirs = DataDir.at(data_dir)
    root = dirs.root
    explicit = url is not None
    if url is None:
        record = server_record(root)
        url = record["url"] if record else None
    if not explicit:
        token = token or _stored(dirs.client_token)
        host_token = host_token or _stored(dirs.host_token)
    return ServerTarget(
        url=(url or f"http://127.0.0.1:{DEFAULT_PORT}").rstrip("/"),
        data_dir=root,
        explicit=explicit,
        token=token,
        host_token=host_token,
    )


_ERRORS: dict[int, type[OpenworkError]] = {
    400: ValidationError,
    401: AuthError,
    403: ForbiddenError,
    404: NotFoundError,
    422: ValidationError,
}


def request(
    target: ServerTarget,
    method: str,
    path: str,
    *,
    timeout: float = DEFAULT_HTTP_TIMEOUT,
    json_body: Any = None,
) -> Any:
    """Call the API and return ``data`` from the envelope; errors become ``OpenworkError``.

    Not httpx: these commands are latency-bound (importing httpx costs more than the whole request)
    and send one small JSON request, usually to loopback; see ``openwork.cli.wire``.
    """
    headers = {"accept": "application/json", **target.headers()}
    body: bytes | None = None
    if json_body is not None:
        body = json.dumps(json_body).encode()
        headers["content-type"] = "application/json"
    try:
        status, raw = exchange(method, target.url + path, headers=headers, body=body, timeout=timeout)
    except WireError as exc:
        raise Unreachable(f"cannot reach the OpenWork server at {target.url}: {exc}") from exc
    try:
        answer = json.loads(raw)
    except ValueError as exc:
        raise OpenworkError(f"{target.url}{path} answered {status} without JSON") from exc
    return unwrap(answer, status)


def unwrap(answer: Any, status: int) -> Any:
    """The payload of an answer in either shape: our envelope (``data``), or the original's unwrapped
    answer (the legacy routes); an error's message from ``error.message`` or the original's ``message``."""
    if status >= 400 or not isinstance(answer, dict) or answer.get("ok") is False:
        error = answer.get("error") if isinstance(answer, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        if message is None and isinstance(answer, dict):
            message = answer.get("message")
        raise _ERRORS.get(status, OpenworkError)(str(message or f"HTTP {status}"))
    if answer.get("ok") is True and "data" in answer and "meta" in answer:
        return answer["data"]
    return answer
