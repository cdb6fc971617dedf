"""The server's client and host tokens: from the environment, or generated once and kept 0600.

A stored token is held to what we generate: a regular file (a symlink is refused, never followed, its
target never chmodded), one line of at least :data:`MIN_STORED_TOKEN_LENGTH` visible ASCII characters.
Tokens the caller passes (``OPENWORK_TOKEN`` / ``OPENWORK_HOST_TOKEN``, checked by ``ServerConfig``)
are the caller's choice and exempt.
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from openwork.errors import ConfigError, StoreError
from openwork.paths import DataDir
from openwork.store.atomic import ensure_private_dir, read_regular, write_atomic

__all__ = [
    "MAX_TOKEN_FILE_BYTES",
    "MIN_STORED_TOKEN_LENGTH",
    "Credentials",
    "OpencodeLogin",
    "load_credentials",
    "new_secret",
    "token_paths",
]

MIN_STORED_TOKEN_LENGTH = 32  # ours are 43 (256 bits, URL-safe); shorter is not a token we would make
MAX_TOKEN_FILE_BYTES = 4096  # one line; a larger "token file" is something else
_TOKEN_CHARS = re.compile(r"[\x21-\x7e]+")  # visible ASCII: it travels in an HTTP header


def new_secret() -> str:
    """256 bits of ``os.urandom``, URL-safe (as ``secrets.token_urlsafe(32)``)."""
    return base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, kw_only=True, slots=True)
class OpencodeLogin:
    """opencode's basic-auth login: new every run, and all that starting opencode needs of the secrets."""

    username: str = "openwork"
    password: str = field(repr=False, default_factory=new_secret)


@dataclass(frozen=True, kw_only=True, slots=True)
class Credentials:
    """Secrets of one server run. ``repr`` never shows them."""

    client_token: str = field(repr=False)
    host_token: str = field(repr=False)
    opencode: OpencodeLogin = field(default_factory=OpencodeLogin)

    @property
    def opencode_username(self) -> str:
        return self.opencode.username

    @property
    def opencode_password(self) -> str:
        return self.opencode.password

    def values(self) -> tuple[str, ...]:
        """Every secret value, for log redaction."""
        return (self.client_token, self.host_token, self.opencode_password)


def _load_or_create(path: Path) -> str:
    try:
        raw = read_regular(path, max_bytes=MAX_TOKEN_FILE_BYTES, private=True)
    except StoreError as exc:
        raise ConfigError(
            f"cannot use the token file {path}: {exc.message}",
            hint="replace it with a regular file holding the token, or delete it to have one generated",
        ) from exc
    existing = _decode(raw, path) if raw is not None else ""
    if existing:
        if len(existing) < MIN_STORED_TOKEN_LENGTH or not _TOKEN_CHARS.fullmatch(existing):
            # Never the content, nor its length: this message reaches logs.
            raise ConfigError(
                f"the token in {path} is too weak: a stored token must be at least"
                f" {MIN_STORED_TOKEN_LENGTH} visible ASCII characters",
                hint="delete the file to have a strong token generated, or pass the token by environment",
            )
        return existing
    value = new_secret()
    write_atomic(path, value + "\n", mode=0o600)
    return value


def _decode(raw: bytes, path: Path) -> str:
    try:
        return raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise ConfigError(
            f"the token in {path} is not ASCII text", hint="delete the file to have a token generated"
        ) from None  # the decode error would quote a byte of it


def token_paths(data_dir: Path) -> tuple[Path, Path]:
    """Where the client and host tokens are kept."""
    dirs = DataDir(data_dir)
    return dirs.client_token, dirs.host_token


def load_credentials(
    data_dir: Path,
    *,
    client_token: str | None = None,
    host_token: str | None = None,
    opencode: OpencodeLogin | None = None,
) -> Credentials:
    """Tokens given by the caller (from ``OPENWORK_TOKEN`` / ``OPENWORK_HOST_TOKEN``) win; otherwise
    they are read from, or generated into, ``<data>/secrets/``. opencode's login is new every run
    (``opencode``: the one it was started with).
    """
    import hmac

    client_path, host_path = token_paths(data_dir)
    secrets_dir = client_path.parent
    try:
        ensure_private_dir(secrets_dir, follow_symlinks=False)  # never chmod a symlink's target
    except StoreError as exc:
        if secrets_dir.is_symlink() or not secrets_dir.is_dir():
            raise ConfigError(exc.message, hint=f"make {secrets_dir} a folder (not a symlink)") from exc
        raise
    client = client_token or _load_or_create(client_path)
    host = host_token or _load_or_create(host_path)
    if hmac.compare_digest(client, host):
        raise StoreError("the client token and the host token must differ")
    return Credentials(client_token=client, host_token=host, opencode=opencode or OpencodeLogin())
