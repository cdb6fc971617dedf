"""The one process: bind, resolve opencode, serve HTTP and supervise in one event loop, stop in order."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import psutil

from openwork.auth.credentials import Credentials
from openwork.config import ServerConfig
from openwork.constants import BACKGROUND_NICENESS, HTTP_SHUTDOWN_TIMEOUT
from openwork.errors import OpenworkError
from openwork.lifecycle.gcpolicy import settle_after_start_up
from openwork.lifecycle.launch import Launch
from openwork.lifecycle.priority import lower_this_thread
from openwork.lifecycle.ready import connect_info, print_ready
from openwork.lifecycle.signals import Signals
from openwork.logging import LogHub, get_logger
from openwork.runtime.events import EventBus
from openwork.runtime.stack import Stack
from openwork.sidecars.resolver import ResolvedBinary
from openwork.store.atomic import write_atomic

if TYPE_CHECKING:
    from openwork.api.context import AppContext
    from openwork.lifecycle.httpserver import EmbeddedServer
    from openwork.lifecycle.statefile import StateFile
    from openwork.runtime.hotreload import HotReloader
    from openwork.store.db import Database

__all__ = ["ServeOptions", "serve"]

log = get_logger("openwork.server")
_T = TypeVar("_T")


@dataclass(frozen=True, kw_only=True, slots=True)
class ServeOptions:
    json_output: bool = False
    check: bool = False
    check_events: bool = False
    stdout: TextIO | None = None


async def _first(*aws: asyncio.Future[Any]) -> None:
    """Wait until one of ``aws`` is done. Cancels nothing: callers own their tasks."""
    await asyncio.wait(aws, return_when=asyncio.FIRST_COMPLETED)


async def serve(config: ServerConfig, hub: LogHub, launch: Launch, opts: ServeOptions | None = None) -> int:
    """Run the server until a signal, a required service giving up, or (with ``--check``) the end of
    the checks. Returns the process exit code. ``launch``: what ``openwork.lifecycle.launch.prepare``
    acquired; its caller releases it."""
    opts = opts or ServeOptions()
    run: _Run | None = None
    try:
        hub.redactor.add(*launch.credentials.values())
        if "*" in config.cors_origins:
            log.warning(
                "cors.any_origin",
                message='--cors "*": any web page may send requests here; each still needs a token',
            )
        stack = Stack(
            config=config,
            binary=launch.binary,
            credentials=launch.credentials,
            hub=hub,
            bus=EventBus(),
            router_binary=launch.router_binary,
            sandbox=launch.sandbox,
        )
        run = _Run(
            config=config,
            stack=stack,
            binary=launch.binary,
            credentials=launch.credentials,
            sock=launch.sock,
            opts=opts,
        )
        return await run.run()
    finally:
        if run is not None and run.db is not None:
            run.db.close()


async def _check_external_version(binary: ResolvedBinary, from_health: str | None) -> None:
    """An external binary is the user's choice: a version mismatch is a warning, checked off the start path.

    opencode states its version in its health answer (``from_health``); only without it is the binary
    asked with ``--version`` (a second of CPU as the first requests arrive), at a lower priority."""
    from openwork.sidecars.version import probe_version, version_problem

    reported = from_health or await probe_version(binary.path, niceness=BACKGROUND_NICENESS)
    problem = version_problem(f"{binary.component} at {binary.path}", binary.version, reported)
    if problem:
        log.warning("sidecar.version_mismatch", component=binary.component, message=problem)


def _url(host: str, port: int) -> str:
    host = "127.0.0.1" if host == "localhost" else host
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}"


class _Run:
    """One run's lifecycle: spawn opencode first, bring up HTTP while it boots, wait, stop in order."""

    def __init__(
        self,
        *,
        config: ServerConfig,
        stack: Stack,
        binary: ResolvedBinary,
        credentials: Credentials,
        sock: socket.socket,
        opts: ServeOptions,
    ) -> None:
        self.config = config
        self.stack = stack
        self.binary = binary
        self.credentials = credentials
        self.db: Database | None = None  # opened off the start-up path, with the HTTP app
        self.sock = sock
        self.opts = opts
        self.url = _url(config.host, sock.getsockname()[1])
        self.signals = Signals()
        self.record = config.dirs.server_record
        self.http: EmbeddedServer | None = None
        self.ctx: AppContext | None = None
        self.state_file: StateFile | None = None  # the original's clients find us through it

    def _build_http(self) -> tuple[AppContext, EmbeddedServer]:
        # Runs in a worker thread: the heavy imports and the database's migrations and integrity check
        # overlap with opencode's own start-up.
        from openwork.api.context import AppContext
        from openwork.approvals.service import ApprovalService
        from openwork.auth.tokens import TokenService
        from openwork.files.protected import ProtectedSet
        from openwork.files.service import FilesService
        from openwork.lifecycle.httpserver import build_server
        from openwork.lifecycle.statefile import StateFile
        from openwork.runtime.control import RuntimeControl
        from openwork.runtime.gateway import OpencodeGateway
        from openwork.store.db import Database
        from openwork.supervisor.state import ServiceState
        from openwork.workspaces.legacy import import_legacy_state, legacy_candidates
        from openwork.workspaces.original import server_process
        from openwork.workspaces.registry import WorkspaceRegistry

        self.db = Database(self.config.dirs.db)
        registry = WorkspaceRegistry(self.db)
        import_legacy_state(registry, legacy_candidates(self.config.data_dir))
        if self.config.register_workspace:
            record, _ = registry.add(self.config.workspace)
            registry.activate(record.id)
        opencode = self.stack.opencode
        approvals = ApprovalService(
            db=self.db,
            bus=self.stack.bus,
            mode=self.config.approval_mode,
            timeout_ms=self.config.approval_timeout_ms,
        )
        ctx = AppContext(
            config=self.config,
            credentials=self.credentials,
            tokens=TokenService(self.db),
            bus=self.stack.bus,
            stack=self.stack,
            registry=registry,
            files=FilesService(
                registry=registry,
                approvals=approvals,
                protected=ProtectedSet.for_server(self.config),
                allow_config_write=self.config.files_allow_config_write,
                state_dir=self.config.dirs.state,
            ),
            approvals=approvals,
            runtime=RuntimeControl(stack=self.stack, settings=self.config.sidecar_settings(), bus=self.stack.bus),
            db=self.db,
            gateway=OpencodeGateway(
                self.stack.driver, lambda: opencode.state is ServiceState.RUNNING, self.stack.container_path
            ),
            request_shutdown=self.signals.request_shutdown,
            url=self.url,
        )
        self.ctx = ctx
        self.state_file = StateFile(
            config=self.config,
            registry=registry,
            stack=self.stack,
            binary=self.binary,
            server=lambda: server_process(pid=ctx.pid, url=ctx.url, started_at=ctx.started_at),
            version=ctx.version,
        )
        return ctx, build_server(ctx)

    def _hot_reloader(self, ctx: AppContext) -> HotReloader:
        from openwork.runtime.hotreload import HotReloader

        async def dispose(_ws_id: str, folder: str) -> None:
            await ctx.gateway.call("POST", "/instance/dispose", folder)

        return HotReloader(
            workspaces=lambda: [(w.id, w.path) for w in ctx.registry.list()],
            dispose=dispose,
            publish=ctx.bus.publish,
            debounce_ms=self.config.hot_reload_debounce_ms,
            cooldown_ms=self.config.hot_reload_cooldown_ms,
        )

    def _write_record(self) -> None:
        write_atomic(
            self.record,
            json.dumps(
                {
                    "url": self.url,
                    "pid": os.getpid(),
                    "createTime": psutil.Process().create_time(),
                    "runId": self.config.run_id,
                    "workspace": str(self.config.workspace),
                }
            ),
        )

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self.signals.install(loop)
        code = 1
        start = asyncio.create_task(self.stack.start(), name="stack-start")
        version_check: asyncio.Task[None] | None = None
        stop_requested = asyncio.ensure_future(self.signals.stop.wait())
        forcer = asyncio.create_task(_force_on_second_signal(self.signals, self.stack))
        http_task: asyncio.Task[None] | None = None
        failed: asyncio.Task[Any] | None = None
        reloader: asyncio.Task[None] | None = None
        baseline: asyncio.Task[None] | None = None
        state_follower: asyncio.Task[None] | None = None
        spawned = asyncio.ensure_future(self.stack.opencode.spawned.wait())
        try:
            # The HTTP half (imports, the app, the database) is built after opencode's spawn, while it boots.
            await _first(spawned, start, stop_requested)
            if self.signals.stopping:  # asked to stop before opencode was even spawned: nothing to serve
                code = self.signals.exit_code
                return code
            if start.done() and not spawned.done():
                await start  # it failed before spawning (the binary would not run): raises with the reason
            ctx, http = await _in_background_thread(self._build_http)
            self.http = http
            http_task = asyncio.create_task(http.serve(sockets=[self.sock]), name="http")
            self._write_record()
            log.info("server.listening", url=self.url, pid=os.getpid(), run_id=self.config.run_id)
            if self.state_file is not None:
                changes = self.stack.bus.subscribe()  # first: a change during the first write is not lost
                await asyncio.to_thread(self.state_file.write)
                state_follower = asyncio.create_task(self.state_file.follow(changes), name="state-file")
            hot: HotReloader | None = None
            if self.config.hot_reload:
                # The baseline is taken while opencode boots: a change from now on is a change.
                hot = self._hot_reloader(ctx)
                baseline = asyncio.create_task(hot.tick(), name="hot-reload-baseline")
            await _first(start, stop_requested, http_task)
            if self.signals.stopping:
                code = self.signals.exit_code
                return code
            if not start.done():
                raise OpenworkError("the HTTP server stopped unexpectedly")
            await start  # re-raises a start failure with the child's last output
            if self.binary.source == "external":
                version_check = asyncio.create_task(_check_external_version(self.binary, self.stack.driver.version))
            if hot is not None and baseline is not None:
                await baseline
                reloader = asyncio.create_task(hot.run(), name="hot-reload")
            print_ready(connect_info(ctx, self.binary, self.stack), self.credentials, self.opts)
            settle_after_start_up()
            if self.opts.check or self.opts.check_events:
                from openwork.lifecycle import checks

                code = 0 if await checks.run_checks(ctx, self.stack, events=self.opts.check_events) else 1
                return code
            failed = asyncio.create_task(self.stack.wait_failed())
            await _first(failed, stop_requested, http_task)
            if self.signals.stopping:
                code = self.signals.exit_code
            elif failed.done():
                service = failed.result()
                log.error("server.required_service_failed", target=service.name, error=str(service.failure))
            else:
                log.error("server.http_stopped", message="the HTTP server stopped unexpectedly")
            return code
        finally:
            for task in (start, spawned, stop_requested, failed, version_check, reloader, baseline, state_follower):
                if task is not None and not task.done():
                    task.cancel()
            self.stack.bus.close()  # ends open SSE streams so the HTTP shutdown is quick
            if self.http is not None:
                self.http.request_exit()
            await self.stack.stop(force=self.signals.force.is_set())
            if self.ctx is not None:
                await self.ctx.gateway.aclose()
                self.ctx.files.close()
            if http_task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(http_task, HTTP_SHUTDOWN_TIMEOUT + 1)
            forcer.cancel()
            self.signals.remove(loop)
            if self.state_file is not None:  # as the original on exit: no daemon; opencode is gone too
                await asyncio.to_thread(self.state_file.write, running=False)
            with contextlib.suppress(OSError):
                self.record.unlink()
            log.info("server.stopped", exit_code=code)


async def _in_background_thread(func: Callable[[], _T]) -> _T:
    """Run ``func`` in a fresh thread at a lower CPU priority (Linux: per-thread nice). Building the HTTP
    app is CPU work done while opencode boots on the same cores; opencode's start is what users wait for."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[_T] = loop.create_future()

    def settle(result: _T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        lower_this_thread()
        try:
            result = func()
        except BaseException as exc:  # handed to the awaiting coroutine, re-raised there
            loop.call_soon_threadsafe(settle, None, exc)
        else:
            loop.call_soon_threadsafe(settle, result, None)

    threading.Thread(target=run, name="openwork-build-http", daemon=True).start()
    return await future


async def _force_on_second_signal(signals: Signals, stack: Stack) -> None:
    await signals.force.wait()
    for service in stack.services:
        await service.stop(force=True)
