"""How a child is started: argv only, a complete environment, its own process group, the parent-death signal.

Import-light on purpose (no asyncio, psutil or structlog): ``openwork.lifecycle.launch`` starts opencode through
:func:`start_child` before the rest of the server is imported, and the supervisor adopts that child.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from openwork.errors import SupervisorError
from openwork.lifecycle.libc import libc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "NONCE_ENV",
    "EarlyChild",
    "SpawnSpec",
    "cannot_start",
    "child_options",
    "child_setup",
    "pidfd_supported",
    "start_child",
    "supervisor_nonce",
]

_PR_SET_PDEATHSIG = 1
# Every child carries this server run's nonce (inherited by its descendants): after a hard kill, the
# next start reaps a process only with proof that it is ours, and this is the proof (see records.py).
# Not --run-id: a user may set that, and two runs may share it.
NONCE_ENV = "OPENWORK_SUPERVISOR_NONCE"
EARLY_CHILD_REAP_TIMEOUT = 5.0  # after SIGKILL, an abandoned early child is waited for this long

_libc = libc()
try:
    import termios

    _TIOCNOTTY: int | None = getattr(termios, "TIOCNOTTY", None)
except ImportError:  # not a POSIX terminal platform
    _TIOCNOTTY = None


@dataclass(frozen=True, kw_only=True, slots=True)
class SpawnSpec:
    """What to run. The environment is complete: nothing is inherited implicitly."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(repr=False)
    cwd: Path


_nonce: tuple[int, str] | None = None  # (pid that made it, nonce): a forked process makes its own


def supervisor_nonce() -> str:
    """This server process's random nonce (128 bits, hex), put in every child's environment."""
    global _nonce
    if _nonce is None or _nonce[0] != os.getpid():
        _nonce = (os.getpid(), os.urandom(16).hex())
    return _nonce[1]


def child_setup(parent_pid: int) -> None:  # pragma: no cover - runs in the forked child
    # Linux: if the server dies (even by SIGKILL) the kernel kills this child. The getppid check
    # closes the race where the parent died before prctl ran.
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:
            os._exit(137)
    _give_up_the_terminal()


def _give_up_the_terminal() -> None:  # pragma: no cover - runs in the forked child
    """Leave the controlling terminal, without leaving the session (see ``child_options``)."""
    if _TIOCNOTTY is None:
        return
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return  # no controlling terminal: nothing to give up
    try:
        fcntl.ioctl(fd, _TIOCNOTTY)
    except OSError:
        pass
    finally:
        os.close(fd)


def pidfd_supported() -> bool:
    """Whether this kernel can hand out a pidfd: how an adopted child's exit reaches the event loop."""
    if not hasattr(os, "pidfd_open"):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return False
    return True


@dataclass(frozen=True, kw_only=True, slots=True)
class EarlyChild:
    """A child started before its supervisor existed; the supervisor's spawner adopts it."""

    spec: SpawnSpec
    popen: subprocess.Popen[bytes] = field(repr=False)
    port: int  # the port it was told to listen on

    def discard(self) -> None:
        """Kill it (and its group) when nobody will adopt it. Idempotent."""
        if self.popen.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=EARLY_CHILD_REAP_TIMEOUT)
        for pipe in (self.popen.stdout, self.popen.stderr):
            if pipe is not None:
                pipe.close()


def child_options(spec: SpawnSpec) -> dict[str, Any]:
    """``subprocess.Popen`` / ``asyncio.create_subprocess_exec`` keywords for ``spec``: piped output, a
    complete environment (plus :data:`NONCE_ENV`), its own process group (a terminal's Ctrl+C reaches us
    only; we stop children in order, as a group), and in ``child_setup`` the parent-death signal and no
    controlling terminal (a tool opencode runs that asks /dev/tty for a password fails at once instead of
    stopping in a background group).

    Not a new session: Linux schedules sessions as groups of their own (autogroups) and splits the CPU
    evenly between them, so our low-priority build thread took a full core from opencode's boot whatever
    its nice value. In our session, opencode's threads come first (24 of 30 alternating starts faster,
    ~30 ms)."""
    return {
        "stdin": subprocess.DEVNULL,
        "stdout": subprocess.PIPE,
        "stderr": subprocess.PIPE,
        "cwd": spec.cwd,
        "env": {**spec.env, NONCE_ENV: supervisor_nonce()},  # ours, even over an inherited one
        "process_group": 0,
        "preexec_fn": functools.partial(child_setup, os.getpid()),
    }


def cannot_start(spec: SpawnSpec, exc: OSError) -> SupervisorError:
    return SupervisorError(f"cannot start {spec.name} ({spec.argv[0]}): {exc.strerror or exc}")


def start_child(spec: SpawnSpec) -> subprocess.Popen[bytes]:
    """Start ``spec`` from the calling thread: the main one, since the parent-death signal follows the
    thread that forked."""
    try:
        return subprocess.Popen(spec.argv, **child_options(spec))
    except OSError as exc:
        raise cannot_start(spec, exc) from exc
