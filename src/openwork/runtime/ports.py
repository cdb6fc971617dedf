"""Port choice for children and the server's own pre-bound listening socket."""

from __future__ import annotations

import contextlib
import errno
import shlex
import socket
from dataclasses import dataclass

from openwork.errors import ConfigError, PortInUse

__all__ = [
    "PortHolder",
    "bind_listener",
    "is_free",
    "listener",
    "pick_port",
    "port_holder",
    "require_free",
    "start_port",
]


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


def start_port(host: str, current: int | None, preferred: int, *, fixed: bool) -> int:
    """The port a (re)start of a child uses: with ``fixed`` (a caller that talks to the child directly chose
    it) always ``preferred``, a taken one failing the start so the restart backoff retries it; otherwise
    the last one while it is free (stable URLs), else the preferred, else any."""
    return preferred if fixed else pick_port(host, current or preferred)


def is_free(host: str, port: int) -> bool:
    """Whether ``port`` could be bound on ``host`` now (a port in TIME_WAIT counts as free)."""
    return _probe(host, port) is not None


@dataclass(frozen=True, kw_only=True, slots=True)
class PortHolder:
    """Who listens on a port, as far as this user may see. ``cmdline`` may hold another program's
    secrets: shown to the user who asks (`openwork doctor`), never put in an error or a bundle."""

    pid: int | None = None
    ppid: int | None = None
    name: str | None = None
    cmdline: str | None = None
    denied: bool = False  # the list or the process was not ours to inspect


def listener(port: int) -> PortHolder:
    """The process listening on ``port`` (macOS refuses the list without root; Linux lists other users'
    sockets without a pid, which counts as ``denied``)."""
    import psutil

    try:
        conns = psutil.net_connections(kind="inet")
    except (psutil.Error, OSError):
        return PortHolder(denied=True)
    hidden = False
    for conn in conns:
        if conn.status != psutil.CONN_LISTEN or not conn.laddr or conn.laddr.port != port:
            continue
        if conn.pid is None:
            hidden = True
            continue
        try:
            proc = psutil.Process(conn.pid)
            name, ppid = proc.name(), proc.ppid()
        except psutil.NoSuchProcess:
            continue
        except psutil.AccessDenied:
            return PortHolder(pid=conn.pid, denied=True)
        try:
            cmdline = shlex.join(proc.cmdline())
        except psutil.Error:
            cmdline = "(command line: access denied)"
        return PortHolder(pid=conn.pid, ppid=ppid, name=name, cmdline=cmdline)
    return PortHolder(denied=hidden)


def port_holder(port: int) -> str | None:
    """Who listens on ``port`` (pid and name; not its command line), as far as this user may see;
    ``None`` if unknown."""
    holder = listener(port)
    return f"{holder.name} (pid {holder.pid})" if holder.name and holder.pid else None


def require_free(host: str, port: int, *, flag: str) -> None:
    """Refuse to start when the port a caller chose for a child is taken, naming the holder."""
    if not is_free(host, port):
        holder = port_holder(port)
        raise PortInUse(
            f"{flag} {port}: the port is already in use" + (f" by {holder}" if holder else ""),
            hint=f"stop whatever listens on {port}, or choose another {flag}",
        )


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
