"""opencode's login chosen by the caller: the desktop app talks to opencode directly, so it picks the
credentials and passes them to ``daemon run`` (flags, environment, or its auth file), as it did with the
original. Accepted only behind the original's gate, ``OPENWORK_INTERNAL_ALLOW_OPENCODE_CREDENTIALS=1``;
otherwise opencode gets a new random login every run, as always.

The order (the original's ``resolveManagedOpencodeCredentials``): the flags; else ``OPENWORK_OPENCODE_USERNAME``
/ ``_PASSWORD``, else ``OPENCODE_SERVER_USERNAME`` / ``_PASSWORD``; else, as a last fallback, the desktop's
``<data dir>/openwork-orchestrator-auth.json`` (read only: never written, chmodded or deleted by us).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from openwork.auth.credentials import OpencodeLogin
from openwork.errors import ConfigError, StoreError
from openwork.store.atomic import read_regular

__all__ = ["ALLOW_ENV", "AUTH_FILE", "caller_login"]

ALLOW_ENV = "OPENWORK_INTERNAL_ALLOW_OPENCODE_CREDENTIALS"
AUTH_FILE = "openwork-orchestrator-auth.json"
_MAX_AUTH_FILE = 64 * 1024
_ENV_PAIRS = (
    ("OPENWORK_OPENCODE_USERNAME", "OPENWORK_OPENCODE_PASSWORD"),
    ("OPENCODE_SERVER_USERNAME", "OPENCODE_SERVER_PASSWORD"),
)


def caller_login(
    username: str | None, password: str | None, *, data_dir: Path, env: Mapping[str, str] | None = None
) -> OpencodeLogin | None:
    """The login the caller chose, or ``None`` (a new one per run). Never quotes a value in an error."""
    env = os.environ if env is None else env
    allowed = env.get(ALLOW_ENV, "").strip() == "1"
    if username is not None or password is not None:
        if not (username and password):
            raise ConfigError("opencode credentials need both --opencode-username and --opencode-password")
        if not allowed:
            raise ConfigError(
                "--opencode-username/--opencode-password are not accepted: opencode's login is managed here",
                hint=f"a launcher that talks to opencode directly sets {ALLOW_ENV}=1",
            )
        return OpencodeLogin(username=username, password=password)
    if not allowed:
        return None
    for user_key, password_key in _ENV_PAIRS:
        user, secret = env.get(user_key), env.get(password_key)
        if user or secret:
            if not (user and secret):
                raise ConfigError(f"opencode credentials need both {user_key} and {password_key}")
            return OpencodeLogin(username=user, password=secret)
    return _from_auth_file(data_dir / AUTH_FILE)


def _from_auth_file(path: Path) -> OpencodeLogin | None:
    try:
        raw = read_regular(path, max_bytes=_MAX_AUTH_FILE)
    except StoreError as exc:
        raise ConfigError(f"cannot read {path}: {exc.message}") from None
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise ConfigError(f"{path} is not valid JSON") from None  # the parser's message would quote it
    user = doc.get("opencodeUsername") if isinstance(doc, dict) else None
    secret = doc.get("opencodePassword") if isinstance(doc, dict) else None
    if not (isinstance(user, str) and user and isinstance(secret, str) and secret):
        return None  # no login in it: opencode gets a new one
    return OpencodeLogin(username=user, password=secret)
