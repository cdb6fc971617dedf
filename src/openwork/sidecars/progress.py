"""How long sidecar work reports itself: a message per step, bytes as they arrive."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

__all__ = ["CallbackProgress", "NullProgress", "Progress"]

if TYPE_CHECKING:
    from typing import Protocol

    class Progress(Protocol):
        def message(self, text: str) -> None: ...

        def advance(self, done: int, total: int | None) -> None: ...


class NullProgress:
    def message(self, text: str) -> None:
        pass

    def advance(self, done: int, total: int | None) -> None:
        pass


class CallbackProgress:
    """Messages to a callback (a log event, stderr); byte counts are dropped."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self._say = say

    def message(self, text: str) -> None:
        self._say(text)

    def advance(self, done: int, total: int | None) -> None:
        pass
