"""What the server's own HTTP clients need to talk plain HTTP to processes on 127.0.0.1."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl

__all__ = ["no_tls"]


def no_tls() -> ssl.SSLContext:
    """The ``verify=`` for a client of loopback HTTP only (opencode, the router, this server).

    httpx loads the CA bundle into a fresh SSL context for every client it builds: 15-35 ms of CPU each,
    spent while opencode boots. Plain HTTP needs none of it. This context holds no CA at all and keeps
    hostname and certificate checks on, so an https URL given by mistake fails closed, never unverified.
    """
    import ssl  # not at import time: the drivers that use this are imported before opencode starts

    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
