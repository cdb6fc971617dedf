"""How a child is started: argv only, a complete environment, its own process group, the parent-death signal."""

from __future__ import annotations

import fcntl
import functools
import os
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openwork.errors import SupervisorError
from openwork.lifecycle.libc import libc

__all__ = [
    "NONCE_ENV",
    "SpawnSpec",
    "cannot_start",
    "child_options",
    "child_setup",
    "supervisor_nonce",
]

_PR_SET_PDEATHSIG = 1
# Every child carries this server run's nonce (inherited by its descendants): after a hard kill, the
# next start reaps a process only with proof that it is ours, and this is the proof (see records.py).
# Not --run-id: a user may set that, and two runs may share it.
NONCE_ENV = "OPENWORK_SUPERVISOR_NONCE"

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


def child_options(spec: SpawnSpec) -> dict[str, Any]:
    """``subprocess.Popen`` / ``asyncio.create_subprocess_exec`` keywords for ``spec``: piped output, a
    complete environment (plus :data:`NONCE_ENV`), its own process group (a terminal's Ctrl+C reaches us
    only; we stop children in order, as a group), and in ``child_setup`` the parent-death signal and no
    controlling terminal (a tool opencode runs that asks /dev/tty for a password fails at once instead of
    stopping in a background group).

    Not a new session: Linux schedules sessions as groups of their own (autogroups) and splits the CPU
    evenly between them, so our low-priority build thread took a full core from opencode's boot whatever
    its nice value. In our session, opencode's threads come first (measured: docs/benchmarks.md)."""
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
