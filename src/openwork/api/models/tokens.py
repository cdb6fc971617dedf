"""Answers of ``/tokens``."""

from __future__ import annotations

from openwork.auth.tokens import TokenInfo

__all__ = ["NewToken", "TokenInfo"]


class NewToken(TokenInfo):
    """A token just minted: its record and the plaintext, which no other answer ever shows."""

    token: str
