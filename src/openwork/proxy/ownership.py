"""Whose is this opencode session? A by-id request is forwarded only for the workspace that owns it.

opencode finds a session by id whatever directory the request names, so the proxy asks opencode for the
session's directory first (and remembers the answer: a session never changes directory, except through a
global operation, which clears the memory). Another workspace's session is refused exactly like one that
does not exist.
"""

from __future__ import annotations

from collections import OrderedDict
from urllib.parse import quote

from openwork.errors import NotFoundError, SupervisorError
from openwork.proxy.pinning import Folder
from openwork.runtime.gateway import OpencodeGateway

__all__ = ["OWNERSHIP_CACHE_SIZE", "OWNERSHIP_LOOKUP_TIMEOUT", "SessionOwnership"]

OWNERSHIP_CACHE_SIZE = 4096  # session ids remembered (id -> directory), least recently used dropped
OWNERSHIP_LOOKUP_TIMEOUT = 10.0  # seconds for opencode to answer GET /session/{id}


class SessionOwnership:
    def __init__(self, capacity: int = OWNERSHIP_CACHE_SIZE) -> None:
        self._directories: OrderedDict[str, str] = OrderedDict()
        self._capacity = capacity

    def forget(self) -> None:
        self._directories.clear()

    async def check(self, gateway: OpencodeGateway, session_id: str, folder: Folder) -> None:
        """Return when ``session_id`` belongs to ``folder``; else raise ``NotFoundError``."""
        directory = self._directories.get(session_id)
        if directory is None:
            directory = await self._lookup(gateway, session_id, folder)
            self._directories[session_id] = directory
            while len(self._directories) > self._capacity:
                self._directories.popitem(last=False)
        else:
            self._directories.move_to_end(session_id)
        if directory != folder.opencode:
            raise NotFoundError(f"no session {session_id!r} in this workspace")

    @staticmethod
    async def _lookup(gateway: OpencodeGateway, session_id: str, folder: Folder) -> str:
        request = gateway.build(
            "GET", "/session/" + quote(session_id, safe=""), folder.host, read_timeout=OWNERSHIP_LOOKUP_TIMEOUT
        )
        response = await gateway.send(request)
        if response.status_code in (400, 404):
            raise NotFoundError(f"no session {session_id!r} in this workspace")
        if response.status_code != 200:
            raise SupervisorError(f"opencode answered {response.status_code} when asked about a session")
        try:
            directory = response.json().get("directory")
        except (ValueError, AttributeError) as exc:
            raise SupervisorError("opencode's session answer was not the expected JSON") from exc
        if not isinstance(directory, str):
            raise SupervisorError("opencode's session answer has no directory")
        return directory
