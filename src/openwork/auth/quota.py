"""Caps per caller, so one token cannot use up what every token shares (issue 16, finding 4).

Each token (``Principal.subject``) has its own share of a bounded resource (open file sessions, pending
approvals), counted across every workspace so it cannot multiply its share by spreading out. The
server-wide cap stays as a backstop on all *minted* tokens together; the host and the client token are
outside it, so however many minted tokens fill their shares, those two always keep room.
"""

from __future__ import annotations

from dataclasses import dataclass

from openwork.errors import ConfigError, ConflictError

__all__ = ["CallerCap"]


@dataclass(frozen=True, kw_only=True, slots=True)
class CallerCap:
    """How many of ``what`` one token, and all minted tokens together, may hold at once."""

    what: str  # plural noun for messages: "open file sessions"
    per_token: int  # every token, the host and the client token included
    minted_total: int  # the backstop: all minted tokens together (the host and client tokens are exempt)

    def __post_init__(self) -> None:
        if not 0 < self.per_token <= self.minted_total:
            raise ConfigError(f"caps on {self.what}: need 0 < per_token <= minted_total")

    def admit(self, *, held_by_token: int, held_by_minted: int, minted: bool) -> None:
        """Return when a token holding ``held_by_token`` may take one more, while minted tokens together
        hold ``held_by_minted``; raise ``ConflictError`` saying which cap binds."""
        if held_by_token >= self.per_token:
            raise ConflictError(f"this token already holds {held_by_token} {self.what}, its cap; close some first")
        if minted and held_by_minted >= self.minted_total:
            raise ConflictError(
                f"minted tokens together hold {held_by_minted} {self.what}, the server's cap for them; "
                "retry when some are closed"
            )
