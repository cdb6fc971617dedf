"""Who is calling: parse the presented credentials and decide the caller's role."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from openwork.auth.credentials import Credentials
from openwork.auth.tokens import TokenService
from openwork.constants import MAX_TOKEN_CHARS
from openwork.errors import AuthError

__all__ = ["HOST_TOKEN_HEADER", "NATIVE", "PRINCIPAL_STATE_KEY", "Access", "Principal", "Role", "authenticate"]

HOST_TOKEN_HEADER = "x-openwork-host-token"  # noqa: S105 - a header name
PRINCIPAL_STATE_KEY = "openwork.principal"  # in an ASGI scope's "state": the caller the guard authenticated


class Role(StrEnum):
    HOST = "host"
    CLIENT = "client"


class Access(IntEnum):
    """What an operation needs (shared/DESIGN.md section 2c); a scope grants everything up to its level."""

    READ = 1  # viewer and up
    ACT = 2  # collaborator and up: prompts, sessions, shells, edits
    ADMIN = 3  # owner (the client token, minted owners) and the host


_SCOPE_LEVEL = {"viewer": Access.READ, "collaborator": Access.ACT, "owner": Access.ADMIN}


@dataclass(frozen=True, kw_only=True, slots=True)
class Principal:
    """An authenticated caller. ``subject`` identifies the token without revealing it."""

    role: Role
    subject: str
    scope: str
    # The workspace record ids a minted token is limited to; ``None`` = every workspace. An empty set
    # (its workspaces were removed) sees nothing: a limitation never widens.
    workspaces: frozenset[str] | None = None
    # Admitted without credentials as the original daemon's local native client (openwork.auth.native):
    # the routes that allow it answer in the original's shapes.
    native: bool = False

    @property
    def is_host(self) -> bool:
        return self.role is Role.HOST

    @property
    def is_minted(self) -> bool:
        """A token minted through ``POST /tokens`` (not the host or the client token)."""
        return self.subject not in ("host", "client", NATIVE.subject)

    @property
    def is_global(self) -> bool:
        """May reach what spans workspaces (opencode's /global, cross-directory listings)."""
        return self.is_host or (self.scope == "owner" and self.workspaces is None)

    def allows(self, access: Access) -> bool:
        return self.is_host or _SCOPE_LEVEL.get(self.scope, 0) >= access

    def sees(self, workspace_id: str) -> bool:
        return self.workspaces is None or workspace_id in self.workspaces


NATIVE = Principal(role=Role.HOST, subject="native", scope="owner", native=True)


def _bearer(authorization: str | None) -> str | None:
    if authorization is None:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthError("expected an 'Authorization: Bearer <token>' header")
    return value.strip()


def _matches(presented: str, expected: str) -> bool:
    return hmac.compare_digest(presented.encode(), expected.encode())


def authenticate(
    *,
    authorization: str | None,
    host_header_token: str | None,
    credentials: Credentials,
    tokens: TokenService,
) -> Principal:
    """Resolve the caller from its headers, or raise ``AuthError`` (never echoing what was sent)."""
    if host_header_token is not None:
        if len(host_header_token) > MAX_TOKEN_CHARS or not _matches(host_header_token, credentials.host_token):
            raise AuthError("invalid host token")
        return Principal(role=Role.HOST, subject="host", scope="owner")
    presented = _bearer(authorization)
    if presented is None:
        raise AuthError("missing credentials: send 'Authorization: Bearer <token>'")
    if len(presented) > MAX_TOKEN_CHARS:
        raise AuthError("invalid token")
    if _matches(presented, credentials.host_token):
        return Principal(role=Role.HOST, subject="host", scope="owner")
    if _matches(presented, credentials.client_token):
        return Principal(role=Role.CLIENT, subject="client", scope="owner")
    minted = tokens.verify(presented)
    if minted is None:
        raise AuthError("invalid or expired token")
    return Principal(role=Role.CLIENT, subject=minted.id, scope=minted.scope, workspaces=minted.workspace_ids)
