"""The original daemon's clients: its CLI and the desktop app call a few routes with no credentials at all
(the original daemon had none). We answer them only for a caller that is provably a local, native program
of the same user (shared/DESIGN.md 2b); everyone else needs a token as usual.

All of these must hold:
- the peer is 127.0.0.1 or ::1 (the socket's own address: uvicorn's proxy headers are off) and the ``Host``
  header names a loopback host (no DNS rebinding);
- no header a browser or a forwarder adds: ``Origin`` (every cross-origin request and every POST),
  ``Sec-Fetch-*`` (every request of a current browser, a plain ``<img>`` GET included), ``Referer``,
  ``Cookie``, ``Forwarded``/``X-Forwarded-*``/``X-Real-IP``/``Via``; a native client sends none of them, and
  no CORS setting or "trusted" origin widens this;
- on Linux, the connection's exact socket (both addresses and ports) in the kernel's table belongs to our
  uid, so another user on the same machine cannot drive our workspaces through loopback.

A forwarder run by our own user (``ssh -L``, socat) that passes the remote caller's request unchanged still
looks native: README, "Switching from the original", says so.
"""

from __future__ import annotations

import ipaddress
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path

__all__ = ["NATIVE_ROUTES", "is_native_route", "native_headers", "peer_uid", "same_user_loopback"]

# (method, path pattern) of the original daemon's routes; `/runtime/*` is not among them on purpose.
_REF = r"/[^/]+"
NATIVE_ROUTES: tuple[tuple[frozenset[str], re.Pattern[str]], ...] = tuple(
    (frozenset(methods), re.compile(pattern))
    for methods, pattern in (
        ({"GET", "HEAD"}, r"^/health$"),
        ({"GET", "HEAD", "POST"}, r"^/workspaces$"),
        ({"POST"}, r"^/workspaces/remote$"),
        ({"GET", "HEAD"}, rf"^/workspaces{_REF}$"),
        ({"POST"}, rf"^/workspaces{_REF}/activate$"),
        ({"GET", "HEAD"}, rf"^/workspaces{_REF}/path$"),
        ({"POST"}, rf"^/instances{_REF}/dispose$"),
        ({"POST"}, r"^/shutdown$"),
    )
)
_TCP_TABLES = {4: Path("/proc/net/tcp"), 6: Path("/proc/net/tcp6")}
_ESTABLISHED = "01"
_LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})
_CREDENTIAL_HEADERS = frozenset({"authorization", "x-openwork-host-token"})
_BROWSER_HEADERS = frozenset({"origin", "referer", "cookie"})
_FORWARDER_HEADERS = frozenset({"forwarded", "x-real-ip", "via"})


def is_native_route(method: str, path: str) -> bool:
    return any(method in methods and pattern.fullmatch(path) for methods, pattern in NATIVE_ROUTES)


def native_headers(names: Iterable[str]) -> bool:
    """No credentials and nothing a browser or a forwarder adds (lower-case header ``names``)."""
    for name in names:
        if name in _CREDENTIAL_HEADERS or name in _BROWSER_HEADERS or name in _FORWARDER_HEADERS:
            return False
        if name.startswith(("sec-fetch-", "x-forwarded-")):
            return False
    return True


def _kernel_hex(host: str) -> tuple[int, str] | None:
    """``host`` as the kernel's socket table prints it (each 32-bit word in host byte order), and which
    table (4 or 6) lists it; ``None`` for anything but our loopback addresses."""
    if host not in _LOOPBACK:
        return None
    address = ipaddress.ip_address(host)
    packed = address.packed
    words = (packed[i : i + 4] for i in range(0, len(packed), 4))
    text = "".join((w[::-1] if sys.byteorder == "little" else w).hex().upper() for w in words)
    return address.version, text


def same_user_loopback(client: tuple[str, int] | None, server: tuple[str, int] | None) -> bool:
    """The connection comes from loopback and (on Linux) from a socket of our own uid."""
    if client is None or server is None or client[0] not in _LOOPBACK:
        return False
    if not sys.platform.startswith("linux"):
        return True  # no socket table to ask; loopback + the header rules are the rule there
    return peer_uid(client, server) == os.getuid()


def peer_uid(client: tuple[str, int], server: tuple[str, int]) -> int | None:
    """The uid owning the client's end of the established connection ``client -> server``: the one row
    whose local address and port are the client's and whose remote ones are the server's. ``None`` when
    no row or more than one matches (the check then fails closed). Reads a file: call it off the loop."""
    local, remote = _kernel_hex(client[0]), _kernel_hex(server[0])
    if local is None or remote is None or local[0] != remote[0]:
        return None
    want_local, want_remote = f"{local[1]}:{client[1]:04X}", f"{remote[1]}:{server[1]:04X}"
    try:
        lines = _TCP_TABLES[local[0]].read_text(encoding="ascii", errors="replace").splitlines()[1:]
    except OSError:
        return None
    owners = [
        fields[7]
        for fields in map(str.split, lines)
        if len(fields) >= 8 and fields[3] == _ESTABLISHED and fields[1] == want_local and fields[2] == want_remote
    ]
    return int(owners[0]) if len(owners) == 1 and owners[0].isdigit() else None
