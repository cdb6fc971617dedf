"""The server's client and host tokens: from the environment, or generated once and kept 0600."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from pathlib import Path

from openwork.errors import StoreError
from openwork.paths import token_paths
from openwork.store.atomic import ensure_private_dir, read_text, write_atomic

__all__ = ["Credentials", "OpencodeLogin", "load_credentials", "new_secret", "token_paths"]


def new_secret() -> str:
    """256 bits, URL-safe: ``secrets.token_urlsafe(32)``, without the import of ``secrets`` (it loads
    OpenSSL through hmac, ~5 ms before opencode can be spawned)."""
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
    existing = read_text(path)
    if existing is not None and existing.strip():
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)  # tighten a file a user copied in with loose permissions
        return existing.strip()
    value = new_secret()
    write_atomic(path, value + "\n", mode=0o600)
    return value


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
    ensure_private_dir(client_path.parent)
    client = client_token or _load_or_create(client_path)
    host = host_token or _load_or_create(host_path)
    if hmac.compare_digest(client, host):
        raise StoreError("the client token and the host token must differ")
    return Credentials(client_token=client, host_token=host, opencode=opencode or OpencodeLogin())
