"""Credentials: the server's own client and host tokens, and minted scoped tokens."""

from openwork.auth.credentials import Credentials, load_credentials
from openwork.auth.principal import Principal, Role, authenticate
from openwork.auth.tokens import MintedToken, TokenService

__all__ = [
    "Credentials",
    "MintedToken",
    "Principal",
    "Role",
    "TokenService",
    "authenticate",
    "load_credentials",
]
