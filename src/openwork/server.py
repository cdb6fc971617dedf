"""The one process: bind, resolve opencode, serve HTTP and supervise in one event loop, stop in order."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

import filelock
import psutil
import structlog
import uvicorn

from openwork import __version__
from openwork.api import AppContext, create_app
from openwork.auth.credentials import Credentials, load_credentials
from openwork.auth.tokens import TokenService
from openwork.checks import run_checks
from openwork.config import ServerConfig
from openwork.errors import ConfigError, OpenworkError
from openwork.events import EventBus
from openwork.logging import LogHub
from openwork.runtime.ports import bind_listener
from openwork.runtime.stack import Stack
from openwork.sidecars.opencode import ResolvedBinary, resolve_opencode
from openwork.store.atomic import ensure_private_dir, write_atomic
from openwork.store.db import Database

__all__ = ["EXIT_SIGINT", "EXIT_SIGTERM", "ServeOptions", "serve"]

log = structlog.get_logger("openwork.server")

EXIT_SIGINT = 130
EXIT_SIGTERM = 143
HTTP_SHUTDOWN_TIMEOUT = 5  # open streams are closed first; this bounds what remains


@dataclass(frozen=True, kw_only=True, slots=True)
class ServeOptions:
    json_output: bool = False
    check: bool = False
    check_events: bool = False
    stdout: TextIO | None = None


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside our loop: we own the signals (ordered stop, second Ctrl+C forces)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class _Signals:
    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.force = asyncio.Event()
        self.received: int | None = None

    def __call__(self, sig: int) -> None:
        if self.received is None:
            self.received = sig
            log.info("server.signal", signal=signal.Signals(sig).name, action="orderly stop")
            self.stop.set()
        else:
            log.warning("server.signal", signal=signal.Signals(sig).name, action="force stop")
            self.force.set()

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self, sig)

    def remove(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)

    @property
    def exit_code(self) -> int:
        return EXIT_SIGTERM if self.received == signal.SIGTERM else EXIT_SIGINT


def _lock_data_dir(config: ServerConfig) -> filelock.BaseFileLock:
    lock = filelock.FileLock(str(config.state_dir / "server.lock"), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout as exc:
        raise ConfigError(
            f"another openwork server is already using the data dir {config.data_dir}",
            hint="stop it, or pass a different --data-dir",
        ) from exc
    return lock


def _connect_info(ctx: AppContext, binary: ResolvedBinary, stack: Stack) -> dict[str, object]:
    opencode = stack.opencode.status()
    return {
        "openworkUrl": ctx.url,
        "opencodeUrl": stack.driver.url,
        "clientToken": ctx.credentials.client_token,
        "hostToken": ctx.credentials.host_token,
        "workspace": str(ctx.config.workspace),
        "dataDir": str(ctx.config.data_dir),
        "runId": ctx.config.run_id,
        "pids": {"server": os.getpid(), "opencode": opencode.pid},
        "versions": {"openwork": __version__, "opencode": stack.driver.version},
        "opencodeBinary": binary.to_json(),
    }


def _redacted(token: str) -> str:
    return token[:4] + "…" + "(redacted)"


def _print_ready(info: dict[str, object], credentials: Credentials, opts: ServeOptions) -> None:
    out = opts.stdout or sys.stdout
    if opts.json_output:
        out.write(json.dumps(info) + "\n")
    else:
        out.write(
            "OpenWork server ready\n"
            f"  OpenWork URL:  {info['openworkUrl']}\n"
            f"  opencode URL:  {info['opencodeUrl']}  (reachable only with the server's credentials)\n"
            f"  client token:  {_redacted(credentials.client_token)}  (print it with --json)\n"
            f"  workspace:     {info['workspace']}\n"
            f"  data dir:      {info['dataDir']}\n"
        )
    out.flush()


async def _first(*aws: asyncio.Future[Any]) -> None:
    """Wait until one of ``aws`` is done. Cancels nothing: callers own their tasks."""
    await asyncio.wait(aws, return_when=asyncio.FIRST_COMPLETED)


async def serve(config: ServerConfig, hub: LogHub, opts: ServeOptions | None = None) -> int:
    """Run the server until a signal, a required service giving up, or (with ``--check``) the end of
    the checks. Returns the process exit code."""
    opts = opts or ServeOptions()
    loop = asyncio.get_running_loop()
    ensure_private_dir(config.data_dir)
    ensure_private_dir(config.state_dir)
    lock = _lock_data_dir(config)
    sock: socket.socket | None = None
    db: Database | None = None
    try:
        sock = bind_listener(config.host, config.port)
        port = sock.getsockname()[1]
        credentials = load_credentials(config.data_dir, client_token=config.client_token, host_token=config.host_token)
        hub.redactor.add(*credentials.values())
        db = Database(config.db_path)
        binary = await asyncio.to_thread(
            resolve_opencode,
            explicit=config.opencode_bin,
            sidecar_dir=config.sidecar_dir,
            progress=lambda msg: log.info("sidecar.progress", message=msg),
        )
        log.info("sidecar.resolved", service="openwork", component="opencode", **binary.to_json())
        bus = EventBus()
        stack = Stack(config=config, binary=binary, credentials=credentials, hub=hub, bus=bus)
        host = "127.0.0.1" if config.host == "localhost" else config.host
        url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
        ctx = AppContext(config=config, credentials=credentials, tokens=TokenService(db), bus=bus, stack=stack, url=url)
        return await _run(config, ctx, stack, binary, sock, opts, loop)
    finally:
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
        if db is not None:
            db.close()
        lock.release()


async def _run(
    config: ServerConfig,
    ctx: AppContext,
    stack: Stack,
    binary: ResolvedBinary,
    sock: socket.socket,
    opts: ServeOptions,
    loop: asyncio.AbstractEventLoop,
) -> int:
    signals = _Signals()
    signals.install(loop)
    uv = _EmbeddedServer(
        uvicorn.Config(
            create_app(ctx),
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=HTTP_SHUTDOWN_TIMEOUT,
        )
    )
    http_task = asyncio.create_task(uv.serve(sockets=[sock]), name="http")
    record = config.state_dir / "server.json"
    write_atomic(
        record,
        json.dumps(
            {
                "url": ctx.url,
                "pid": os.getpid(),
                "createTime": psutil.Process().create_time(),
                "runId": config.run_id,
                "workspace": str(config.workspace),
            }
        ),
    )
    log.info("server.listening", url=ctx.url, pid=os.getpid(), run_id=config.run_id)
    code = 1
    forcer = asyncio.create_task(_force_on_second_signal(signals, stack))
    stop_requested = asyncio.ensure_future(signals.stop.wait())
    start = asyncio.create_task(stack.start())
    failed: asyncio.Task[Any] | None = None
    try:
        await _first(start, stop_requested, http_task)
        if signals.received is not None:
            code = signals.exit_code
            return code
        if not start.done():
            raise OpenworkError("the HTTP server stopped unexpectedly")
        await start  # re-raises a start failure with the child's last output
        _print_ready(_connect_info(ctx, binary, stack), ctx.credentials, opts)
        if opts.check or opts.check_events:
            code = 0 if await run_checks(ctx, stack, events=opts.check_events) else 1
            return code
        failed = asyncio.create_task(stack.wait_failed())
        await _first(failed, stop_requested, http_task)
        if signals.received is not None:
            code = signals.exit_code
        elif failed.done():
            service = failed.result()
            log.error("server.required_service_failed", service=service.name, error=str(service.failure))
        else:
            log.error("server.http_stopped", message="the HTTP server stopped unexpectedly")
        return code
    finally:
        for task in (start, stop_requested, failed):
            if task is not None and not task.done():
                task.cancel()
        ctx.bus.close()  # ends open SSE streams so the HTTP shutdown is quick
        uv.should_exit = True
        await stack.stop(force=signals.force.is_set())
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(http_task, HTTP_SHUTDOWN_TIMEOUT + 1)
        forcer.cancel()
        signals.remove(loop)
        with contextlib.suppress(OSError):
            record.unlink()
        log.info("server.stopped", exit_code=code)


async def _force_on_second_signal(signals: _Signals, stack: Stack) -> None:
    await signals.force.wait()
    for service in stack.services:
        await service.stop(force=True)
