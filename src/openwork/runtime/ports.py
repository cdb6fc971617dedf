"""Port choice for children and the server's own pre-bound listening socket."""

from __future__ import annotations

import contextlib
import errno
import socket

from openwork.errors import ConfigError, PortInUse

__all__ = ["bind_listener", "pick_port"]


def _probe(host: str, port: int) -> int | None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Same option the child's listener uses, so a port in TIME_WAIT still counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return None
        return int(sock.getsockname()[1])


def pick_port(host: str, preferred: int = 0) -> int:
    """``preferred`` when it is free, else any free port. The child may still lose a race for it;
    the supervisor treats "address in use" at start as retryable."""
    if preferred:
        got = _probe(host, preferred)
        if got:
            return got
    got = _probe(host, 0)
    if got is None:  # pragma: no cover - the kernel always has an ephemeral port
        raise ConfigError("no free port on loopback")
    return got


def bind_listener(host: str, port: int) -> socket.socket:
    """Bind and listen now, so there is no check-then-bind race; uvicorn serves this socket."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: accepted sockets inherit it, and asyncio sets TCP_NODELAY only on a socket
    # whose proto says TCP; without it every small keep-alive response waits out a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError as exc:
        with contextlib.suppress(OSError):
            sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(
                f"port {port} on {host} is already in use",
                hint=f"stop whatever listens on {port}, or pass --port 0 for any free port",
            ) from exc
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    return sock
