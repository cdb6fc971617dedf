"""The background server (``openwork daemon start|stop|status``): launched detached, found by its records.

Records under ``<data>/run``: ``server.json`` (written by the server itself once it listens) and
``daemon.json`` (written by ``daemon start``: pid, create time, log file). A record whose process is gone,
or whose pid now names another process, is stale and removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil

from openwork.cli.client import ServerTarget, Unreachable, find_target, request, server_record
from openwork.constants import LOG_CONSOLE_ENV
from openwork.errors import OpenworkError, SupervisorError
from openwork.paths import DataDir
from openwork.store.atomic import ensure_private_dir, write_atomic
from openwork.supervisor.identity import same_process

__all__ = [
    "DAEMON_POLL_INTERVAL",
    "DAEMON_START_TIMEOUT",
    "DAEMON_STOP_TIMEOUT",
    "daemon_status",
    "start_daemon",
    "stop_daemon",
]

DAEMON_START_TIMEOUT = 10.0  # spawn -> server and opencode healthy
DAEMON_POLL_INTERVAL = 0.25
DAEMON_STOP_TIMEOUT = 15.0  # shutdown request -> process gone (opencode gets 10 s of it)
DAEMON_KILL_TIMEOUT = 5.0  # after SIGKILL
_EXIT_POLL = 0.02  # how often a stopping daemon is checked
_LOG_TAIL_LINES = 15


def _paths(data_dir: Path) -> tuple[Path, Path]:
    dirs = DataDir(data_dir)
    return dirs.daemon_record, dirs.daemon_log


def _live_server(data_dir: Path) -> tuple[dict[str, Any], psutil.Process] | None:
    """The server recorded in the data dir, if that exact process is still running."""
    record = server_record(data_dir)
    if record is None:
        return None
    pid, created = record.get("pid"), record.get("createTime")
    if not isinstance(pid, int) or not isinstance(created, (int, float)):
        return None
    proc = same_process(pid, float(created))
    return (record, proc) if proc is not None else None


def _clean_stale(data_dir: Path) -> None:
    if _live_server(data_dir) is None:
        for path in (DataDir(data_dir).server_record, _paths(data_dir)[0]):
            path.unlink(missing_ok=True)


def _healthy(target: ServerTarget) -> dict[str, Any] | None:
    try:
        status = request(target, "GET", "/system/status", timeout=2.0)
    except OpenworkError:
        return None
    return status if isinstance(status, dict) and status.get("healthy") else None


def _log_tail(log_file: Path) -> str:
    with contextlib.suppress(OSError):
        lines = log_file.read_text(errors="replace").splitlines()[-_LOG_TAIL_LINES:]
        return "\n".join(f"  {line}" for line in lines)
    return ""


def daemon_status(data_dir: Path) -> dict[str, Any]:
    live = _live_server(data_dir)
    _, log_file = _paths(data_dir)
    if live is None:
        return {"running": False, "healthy": False, "dataDir": str(data_dir), "logFile": str(log_file)}
    record, proc = live
    status = _healthy(find_target(url=None, token=None, data_dir=data_dir))
    return {
        "running": True,
        "healthy": status is not None,
        "pid": proc.pid,
        "url": record["url"],
        "dataDir": str(data_dir),
        "logFile": str(log_file),
        "services": status["services"] if status else [],
    }


def start_daemon(
    data_dir: Path,
    *,
    port: int,
    extra_args: Sequence[str] = (),
    timeout: float = DAEMON_START_TIMEOUT,
    extra_env: Mapping[str, str] | None = None,
    quiet: bool = False,
) -> dict[str, Any]:
    """Start the daemon, or reuse a healthy one. Returns its status plus ``reused``. ``extra_env``: set in
    the daemon's environment on top of ours (what it reads from there only, e.g. its CORS origins).
    ``timeout`` is for the daemon to be healthy; a first download of opencode happens before it, here."""
    ensure_private_dir(data_dir)
    if _live_server(data_dir) is not None:
        if _healthy(find_target(url=None, token=None, data_dir=data_dir)) is not None:
            return {**daemon_status(data_dir), "reused": True}
        # Alive but not healthy (opencode still starting, or restarting): give it the same deadline.
        return {**_wait_healthy(data_dir, None, timeout, _paths(data_dir)[1]), "reused": True}
    _clean_stale(data_dir)
    args = ["--port", str(port), "--data-dir", str(data_dir), *extra_args]
    prefetch_opencode(args, quiet=quiet)
    record_path, log_file = _paths(data_dir)
    ensure_private_dir(log_file.parent)
    argv = [sys.executable, "-m", "openwork", "daemon", "run", *args]
    with log_file.open("ab") as log:
        os.chmod(log_file, 0o600)
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # survives the CLI and its terminal
            close_fds=True,
            # Its console is daemon.log, which nothing rotates: warnings and errors only there; the whole
            # stream is in the rotated log file (`openwork logs`).
            env={**os.environ, LOG_CONSOLE_ENV: "warn", **(extra_env or {})},
        )
    write_atomic(
        record_path,
        json.dumps(
            {
                "pid": proc.pid,
                "createTime": psutil.Process(proc.pid).create_time(),
                "logFile": str(log_file),
                "startedAt": time.time(),
            }
        ),
    )
    return {**_wait_healthy(data_dir, proc, timeout, log_file), "reused": False}


def prefetch_opencode(args: Sequence[str], *, quiet: bool) -> None:
    """Resolve the daemon's opencode in this process first, from the very arguments (and environment)
    `daemon run` gets, parsed by that command: a first download shows its progress and fails only when it
    stalls (the download's own read timeout), instead of running out the daemon's health deadline behind
    a download nobody sees. Then the daemon finds it in the cache."""
    from openwork.cli.progress import TerminalProgress
    from openwork.cli.serve import daemon_run_cmd
    from openwork.cli.serveconfig import sidecar_settings
    from openwork.sidecars.resolver import Resolver

    values = daemon_run_cmd.make_context("run", list(args), resilient_parsing=True).params
    with TerminalProgress(quiet=quiet) as progress:
        Resolver(sidecar_settings(values), progress).resolve("opencode")


def _wait_healthy(
    data_dir: Path, proc: subprocess.Popen[bytes] | None, timeout: float, log_file: Path
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            _clean_stale(data_dir)
            raise SupervisorError(
                f"the daemon exited with code {proc.returncode} before it was healthy; log {log_file}:\n"
                + _log_tail(log_file)
            )
        if _live_server(data_dir) is not None and _healthy(find_target(url=None, token=None, data_dir=data_dir)):
            return daemon_status(data_dir)
        time.sleep(DAEMON_POLL_INTERVAL)
    if proc is not None:
        _terminate_group(proc.pid)
        _clean_stale(data_dir)
    raise SupervisorError(
        f"the daemon was not healthy within {timeout:g}s; log {log_file}:\n" + _log_tail(log_file),
        hint="pass --timeout with a longer deadline if opencode is still being downloaded",
    )


def _wait_gone(pid: int, timeout: float) -> bool:
    """True once the process has exited. A zombie has: only its parent can reap it, and a `daemon run`
    under some other supervisor is reaped when that one gets to it, not when we wait."""
    try:
        proc = psutil.Process(pid)  # identity (create time) fixed here: a reused pid is not "ours"
    except psutil.NoSuchProcess:
        return True
    deadline = time.monotonic() + timeout
    while True:
        try:
            if not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        except psutil.Error:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(_EXIT_POLL)


def _terminate_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    if _wait_gone(pid, DAEMON_STOP_TIMEOUT):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    _wait_gone(pid, DAEMON_KILL_TIMEOUT)


def stop_daemon(data_dir: Path, *, timeout: float = DAEMON_STOP_TIMEOUT) -> dict[str, Any]:
    """Ask the server to stop (orderly, it stops opencode first), then make sure it is gone."""
    live = _live_server(data_dir)
    if live is None:
        _clean_stale(data_dir)
        return {"stopped": False, "wasRunning": False}
    _, proc = live
    pid = proc.pid
    try:
        request(find_target(url=None, token=None, data_dir=data_dir), "POST", "/shutdown", timeout=5.0)
    except (Unreachable, OpenworkError):
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGTERM)
    if not _wait_gone(pid, timeout):
        _terminate_group(pid)
    _clean_stale(data_dir)
    return {"stopped": True, "wasRunning": True, "pid": pid}
