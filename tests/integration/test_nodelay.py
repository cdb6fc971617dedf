"""Every connection the server accepts has TCP_NODELAY, read on the server's own socket.

Without it a keep-alive client waits out a delayed ACK (~40 ms) on each small response. asyncio sets it
only on sockets whose ``proto`` is IPPROTO_TCP, and accepted sockets inherit the listener's proto.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
from pathlib import Path

import psutil
import pytest

from tests.helpers import FIXTURES, ServerProcess, serve_args, wait_for

FAKE = str(FIXTURES / "fake_opencode.py")
ACCEPT_TIMEOUT = 5.0  # for the server to have accepted our connection
_SYS_PIDFD_GETFD = 438  # the same number on every Linux architecture (the unified syscall table)

_libc = ctypes.CDLL(None, use_errno=True)


def _steal_fd(pid: int, fd: int) -> int:
    """A duplicate of process ``pid``'s descriptor ``fd`` in this process (pidfd_getfd; needs ptrace rights)."""
    pidfd = os.pidfd_open(pid)
    try:
        got = _libc.syscall(_SYS_PIDFD_GETFD, pidfd, fd, 0)
        if got < 0:
            err = ctypes.get_errno()
            if err in (errno.EPERM, errno.ENOSYS):
                pytest.skip(f"pidfd_getfd unavailable here: {os.strerror(err)}")
            raise OSError(err, os.strerror(err))
        return int(got)
    finally:
        os.close(pidfd)


def _accepted_fd(server_pid: int, client: socket.socket) -> int:
    """The server's descriptor for the connection whose other end is ``client``."""
    ours = client.getsockname()
    for conn in psutil.Process(server_pid).net_connections("tcp"):
        if conn.raddr and tuple(conn.raddr) == ours and conn.fd != -1:
            return int(conn.fd)
    return 0  # not accepted yet (fd 0 is never a socket here)


def test_accepted_connections_have_tcp_nodelay(tmp_path: Path, workspace: Path, serve: list[ServerProcess]) -> None:
    server = ServerProcess(serve_args(workspace, FAKE))
    serve.append(server)
    server.start(log_file=tmp_path / "server.log")
    pid = server.info["pids"]["server"]
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=ACCEPT_TIMEOUT) as client:
        fd = wait_for(lambda: _accepted_fd(pid, client), timeout=ACCEPT_TIMEOUT, what="the server's accepted socket")
        with socket.socket(fileno=_steal_fd(pid, fd)) as accepted:
            assert accepted.getpeername() == client.getsockname()
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
