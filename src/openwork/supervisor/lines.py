"""Split a byte stream into bounded text lines."""

from __future__ import annotations

from openwork.constants import DEFAULT_MAX_LINE_BYTES

__all__ = ["LineSplitter"]

TRUNCATED_MARK = " …[truncated]"


class LineSplitter:
    """Feed bytes, get complete lines. A line longer than ``max_bytes`` is cut there and the rest of
    it is discarded up to the next newline, so a child that floods without newlines costs at most
    ``max_bytes`` of memory. Invalid UTF-8 is replaced, never raised.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._buf = bytearray()
        self._discarding = False

    def feed(self, data: bytes) -> list[str]:
        out: list[str] = []
        start = 0
        while start < len(data):
            nl = data.find(b"\n", start)
            end = len(data) if nl == -1 else nl
            if not self._discarding:
                room = self.max_bytes - len(self._buf)
                piece = data[start:end]
                if len(piece) > room:
                    self._buf += piece[:room]
                    out.append(self._decode() + TRUNCATED_MARK)
                    self._discarding = True
                else:
                    self._buf += piece
            if nl == -1:
                break
            if self._discarding:
                self._discarding = False
            else:
                out.append(self._decode())
            start = nl + 1
        return out

    def flush(self) -> list[str]:
        """Whatever is left when the stream ends."""
        if self._buf and not self._discarding:
            return [self._decode()]
        self._buf.clear()
        return []

    def _decode(self) -> str:
        text = self._buf.decode("utf-8", errors="replace").rstrip("\r")
        self._buf.clear()
        return text
