"""Finding a running server and its credentials from the CLI."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from openwork.auth.credentials import token_paths
from openwork.config import default_data_dir
from openwork.constants import DEFAULT_HTTP_TIMEOUT, DEFAULT_PORT
from openwork.errors import AuthError, OpenworkError
from openwork.store.atomic import read_text

__all__ = ["ServerTarget", "find_target", "request"]


@dataclass(frozen=True, kw_only=True, slots=True)
class ServerTarget:
    url: str
    token: str | None = field(repr=False, default=None)


def find_target(*, url: str | None, token: str | None, data_dir: Path | None) -> ServerTarget:
    """URL: flag/env > the running server's record in the data dir > the default port.
    Token: flag/env > the client token file in the data dir."""
    root = (data_dir or default_data_dir()).expanduser()
    if url is None:
        record = read_text(root / "run" / "server.json")
        try:
            url = json.loads(record)["url"] if record else None
        except (ValueError, KeyError, TypeError):
            url = None
    if token is None:
        client_path, _ = token_paths(root)
        stored = read_text(client_path) if os.access(client_path, os.R_OK) else None
        token = stored.strip() if stored else None
    return ServerTarget(url=(url or f"http://127.0.0.1:{DEFAULT_PORT}").rstrip("/"), token=token)


def request(
    target: ServerTarget, method: str, path: str, *, timeout: float = DEFAULT_HTTP_TIMEOUT, **kwargs: Any
) -> Any:
    """Call the API and return ``data`` from the envelope; errors become ``OpenworkError``."""
    headers = {"authorization": f"Bearer {target.token}"} if target.token else {}
    try:
        with httpx.Client(timeout=timeout, trust_env=False) as client:
            response = client.request(method, target.url + path, headers=headers, **kwargs)
    except httpx.HTTPError as exc:
        raise OpenworkError(f"cannot reach the OpenWork server at {target.url}: {type(exc).__name__}") from exc
    try:
        body = response.json()
    except ValueError as exc:
        raise OpenworkError(f"{target.url}{path} answered {response.status_code} without JSON") from exc
    if response.status_code == 401:
        raise AuthError(body.get("error", {}).get("message", "unauthorized"))
    if not body.get("ok"):
        error = body.get("error", {})
        raise OpenworkError(f"{error.get('code', 'error')}: {error.get('message', response.status_code)}")
    return body["data"]
