"""What the server's own HTTP clients need to talk plain HTTP to processes on 127.0.0.1."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ssl

    import httpx

__all__ = ["no_tls", "probe_health"]


def no_tls() -> ssl.SSLContext:
    """The ``verify=`` for a client of loopback HTTP only (opencode, the router, this server).

    httpx loads the CA bundle into a fresh SSL context for every client it builds (CPU spent while opencode
    boots; docs/benchmarks.md). Plain HTTP needs none of it. This context holds no CA at all and keeps
    hostname and certificate checks on, so an https URL given by mistake fails closed, never unverified.
    """
    import ssl

    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


async def probe_health(client: httpx.AsyncClient, url: str, *, timeout: float) -> tuple[bool, str | None]:
    """One health probe: whether ``url`` answered 200 within ``timeout``, and the version it reports
    (opencode and the router state it in their health answer: no ``--version`` run competing for CPU)."""
    import httpx

    try:
        response = await client.get(url, timeout=timeout)
    except httpx.HTTPError:
        return False, None
    if response.status_code != 200:
        return False, None
    try:
        version = response.json().get("version")
    except (ValueError, AttributeError):
        version = None
    return True, version if isinstance(version, str) else None
