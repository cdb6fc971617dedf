"""Everything before supervision: lock the data dir, bind, resolve binaries, start opencode as early as
possible, then load the server's own tokens (opencode needs only its login, made fresh every run).

opencode takes about a second to boot; the server's own imports (the HTTP stack, the supervisor) take a
tenth of that. So this module imports little, and :func:`prepare` starts opencode itself; the stack's
spawner adopts the child later (``EarlyChild``). Without a sandbox only: a sandboxed opencode starts
through the container engine, under the supervisor.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from openwork.auth.credentials import Credentials, OpencodeLogin, load_credentials
from openwork.config import ServerConfig
from openwork.errors import ConfigError, OpenworkError
from openwork.lifecycle.priority import lower_this_thread
from openwork.runtime.ports import bind_listener, pick_port
from openwork.sidecars.progress import CallbackProgress
from openwork.sidecars.resolver import ResolvedBinary, Resolver
from openwork.store.atomic import ensure_private_dir
from openwork.store.lock import DataDirLock, Held
from openwork.supervisor.spawn import EarlyChild, pidfd_supported, start_child

TYPE_CHECKING = False  # typing loads after the spawn
if TYPE_CHECKING:
    from typing import Any

    from openwork.runtime.stack import SandboxSetup
    from openwork.sandbox.mounts import Mount

__all__ = ["PRELOAD_MODULES", "Launch", "LaunchLog", "Preloader", "prepare"]


PRELOAD_JOIN_TIMEOUT = 5.0  # a failed launch waits this long for the preload thread before exiting

# What `serve` imports after the spawn anyway: the server, the supervisor, the HTTP stack.
PRELOAD_MODULES = (
    "asyncio",
    "structlog",
    "psutil",
    "httpx",
    "openwork.lifecycle.server",
    "fastapi",
    "uvicorn",
    "openwork.api",
    "openwork.lifecycle.httpserver",
)


class Preloader:
    """Imports what the server needs after the spawn, in a thread, while the main thread hashes opencode's
    binary before running it (the default source re-verifies the cached ~185 MB file on every start: one
    core busy for ~0.13 s, GIL released). That import work then no longer competes with opencode's boot.
    Once opencode is spawned the thread lowers its priority, like the HTTP build thread."""

    def __init__(self, modules: tuple[str, ...] = PRELOAD_MODULES) -> None:
        self._modules = modules
        self._thread: threading.Thread | None = None
        self._spawned = threading.Event()

    def start(self) -> None:
        """Idempotent."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="openwork-preload", daemon=True)
            self._thread.start()

    def spawned(self) -> None:
        self._spawned.set()

    def wait(self, timeout: float) -> bool:
        """Whether the thread finished (or never started) within ``timeout``."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self._thread is None or not self._thread.is_alive()

    def _run(self) -> None:
        reniced = False
        for name in self._modules:
            if self._spawned.is_set() and not reniced:
                reniced = True
                lower_this_thread()
            try:
                importlib.import_module(name)
            except Exception:  # the main thread imports it again and reports the error properly
                return


class LaunchLog:
    """The launch's log events, held until logging is set up: structlog imports asyncio, and the fast
    path starts opencode before either loads. ``live`` events (a download's progress, a reap) set
    logging up at once through ``logging_ready`` and flush what was held first, so order is kept."""

    def __init__(self, logging_ready: Callable[[], object] | None = None) -> None:
        self._ready = logging_ready
        self._held: list[tuple[str, str, dict[str, Any]]] = []

    def note(self, level: str, event: str, **fields: Any) -> None:
        self._held.append((level, event, fields))

    def live(self, level: str, event: str, **fields: Any) -> None:
        self.note(level, event, **fields)
        self.flush()

    def flush(self) -> None:
        """Set logging up (when a hook was given) and emit what was held."""
        if self._ready is not None:
            self._ready()
        if not self._held:
            return
        import structlog

        log = structlog.get_logger("openwork.server")
        held, self._held = self._held, []
        for level, event, fields in held:
            getattr(log, level)(event, **fields)


@dataclass(kw_only=True)
class Launch:
    """What :func:`prepare` acquired. ``close`` releases all of it; the stack takes ``early`` over."""

    lock: DataDirLock
    sock: socket.socket
    credentials: Credentials
    binary: ResolvedBinary
    router_binary: ResolvedBinary | None
    sandbox: SandboxSetup | None
    log: LaunchLog = field(default_factory=LaunchLog)
    early: EarlyChild | None = None

    def take_early(self) -> EarlyChild | None:
        """Hand the early opencode to its new owner (the stack); ``close`` no longer kills it."""
        early, self.early = self.early, None
        return early

    def close(self) -> None:
        """Idempotent: kill an early opencode nobody adopted, close the listener, release the lock."""
        early = self.take_early()
        if early is not None:
            early.discard()
        with contextlib.suppress(OSError):
            self.sock.close()
        self.lock.release()


def prepare(
    config: ServerConfig, *, early_start: bool = True, logging_ready: Callable[[], object] | None = None
) -> Launch:
    """Acquire what a run needs, in the order that fails fastest, and start opencode (``early_start``).

    ``logging_ready``: sets logging up; called before the first event that cannot wait (see ``LaunchLog``).
    Without it, logging is taken as set up already. ``Launch.log.flush()`` emits the held events.
    """
    log = LaunchLog(logging_ready)
    preloader = Preloader()
    ensure_private_dir(config.data_dir)
    ensure_private_dir(config.state_dir)
    lock = _lock_data_dir(config)
    sock: socket.socket | None = None
    early: EarlyChild | None = None
    try:
        sock = bind_listener(config.host, config.port)
        login = OpencodeLogin()
        mounts = _sandbox_mounts(config)  # refused before any binary or engine is touched
        binary = _resolve_opencode(config, log, on_hashing=preloader.start if early_start else None)
        sandbox = _sandbox_setup(config, binary, mounts, log) if config.sandbox != "none" else None
        router_binary = _resolve_router(config, log)
        if early_start and sandbox is None and pidfd_supported():
            early = _start_opencode(config, binary, router_binary, login, log)
        preloader.spawned()
        # The server's own tokens are none of opencode's business: they are read (or made) while it boots.
        credentials = load_credentials(
            config.data_dir, client_token=config.client_token, host_token=config.host_token, opencode=login
        )
        return Launch(
            lock=lock,
            sock=sock,
            credentials=credentials,
            binary=binary,
            router_binary=router_binary,
            sandbox=sandbox,
            log=log,
            early=early,
        )
    except BaseException:
        if early is not None:
            early.discard()
        preloader.wait(PRELOAD_JOIN_TIMEOUT)  # no import racing the interpreter's exit
        if sock is not None:
            sock.close()
        lock.release()
        raise


def _start_opencode(
    config: ServerConfig,
    binary: ResolvedBinary,
    router_binary: ResolvedBinary | None,
    login: OpencodeLogin,
    log: LaunchLog,
) -> EarlyChild:
    from openwork.runtime.opencode import opencode_host, opencode_spec, stack_opencode_env

    # A dead predecessor's opencode may still hold the preferred port: reap it first, as the stack would.
    # (Only a server that died hard leaves the file; reaping logs, so logging is set up first.)
    records = config.state_dir / "children.json"
    if records.exists():
        from openwork.supervisor.records import ChildRecords  # psutil and structlog: this path only

        log.flush()
        ChildRecords(records).reap_leftovers()
    host = opencode_host(config)
    port = pick_port(host, config.opencode_port)
    spec = opencode_spec(
        binary=binary.path,
        host=host,
        port=port,
        env=stack_opencode_env(config, login, router=router_binary is not None),
        workspace=config.workspace,
    )
    return EarlyChild(spec=spec, popen=start_child(spec), port=port)


def _lock_data_dir(config: ServerConfig) -> DataDirLock:
    lock = DataDirLock(config.state_dir / "server.lock")
    try:
        lock.acquire()
    except Held as exc:
        raise ConfigError(
            f"another openwork server is already using the data dir {config.data_dir}",
            hint="stop it, or pass a different --data-dir",
        ) from exc
    return lock


def _resolve_opencode(config: ServerConfig, log: LaunchLog, *, on_hashing: Callable[[], None] | None) -> ResolvedBinary:
    resolver = Resolver(
        config.sidecar_settings(),
        CallbackProgress(lambda msg: log.live("info", "sidecar.progress", message=msg)),
        on_hashing=on_hashing,
    )
    binary = resolver.resolve("opencode")
    log.note("info", "sidecar.resolved", **binary.to_json())
    return binary


def _sandbox_mounts(config: ServerConfig) -> tuple[Mount, ...]:
    if config.sandbox == "none":
        if config.sandbox_mounts:
            raise ConfigError("--sandbox-mount needs --sandbox")
        return ()
    from openwork.sandbox.mounts import allowlist_path, load_allowlist, parse_mount

    allowed = load_allowlist(allowlist_path()) if config.sandbox_mounts else []
    return tuple(parse_mount(spec, allowed) for spec in config.sandbox_mounts)


def _sandbox_setup(
    config: ServerConfig, binary: ResolvedBinary, mounts: tuple[Mount, ...], log: LaunchLog
) -> SandboxSetup:
    """The engine (checked usable), and a Linux opencode for the container's architecture."""
    from openwork.runtime.stack import SandboxSetup
    from openwork.sandbox.engine import choose_engine
    from openwork.sidecars.targets import current_target, machine_arch

    engine = choose_engine(config.sandbox, config.sandbox_engine)
    arch = machine_arch(default="x64")
    container_binary = binary.path
    if not current_target().startswith(f"linux-{arch}"):  # e.g. macOS: the container needs the Linux build
        container_binary = Resolver(config.sidecar_settings()).resolve("opencode", target=f"linux-{arch}").path
    log.note(
        "info",
        "sandbox.ready",
        engine=engine.kind,
        cli=engine.cli,
        image=config.sandbox_image,
        binary=str(container_binary),
        mounts=[f"{m.host}:{m.target}" for m in mounts],
    )
    return SandboxSetup(
        engine=engine,
        image=config.sandbox_image,
        persist_dir=config.sandbox_persist_dir or config.data_dir / "sandbox-persist",
        mounts=mounts,
        container_binary=container_binary,
    )


def _resolve_router(config: ServerConfig, log: LaunchLog) -> ResolvedBinary | None:
    """The router's binary when it is enabled; the managed tools follow that decision."""
    from openwork.runtime.router import router_enabled
    from openwork.runtime.tools import sync_router_tools

    enabled, why = router_enabled(
        flag=config.router, env=os.environ, workspace=config.workspace, data_dir=config.data_dir
    )
    binary: ResolvedBinary | None = None
    if enabled:
        try:
            binary = Resolver(config.sidecar_settings()).resolve("opencode-router")
            log.note("info", "router.enabled", reason=why, **binary.to_json())
        except OpenworkError as exc:
            if config.router_required:
                raise
            log.note("warning", "router.unavailable", reason=why, error=exc.message, consequence="running without it")
    else:
        log.note("info", "router.disabled", reason=why)
    changed = sync_router_tools(config.data_dir, enabled=binary is not None)
    if changed:
        log.note("info", "router.tools_synced", files=changed, installed=binary is not None)
    return binary
