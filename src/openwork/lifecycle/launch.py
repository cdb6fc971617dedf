"""Everything before supervision: lock the data dir, bind, resolve the binaries, load the credentials.

In the order that fails fastest and touches least: a second server on the same data dir or a taken port is
refused before any binary is resolved (which may download), and nothing is spawned here: the stack starts
opencode from the running event loop (``openwork.lifecycle.server``).
"""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from openwork.auth.credentials import Credentials, OpencodeLogin, load_credentials
from openwork.config import ServerConfig
from openwork.errors import ConfigError, OpenworkError
from openwork.logging import get_logger
from openwork.runtime.ports import bind_listener, require_free
from openwork.sidecars.progress import CallbackProgress
from openwork.sidecars.resolver import ResolvedBinary, Resolver
from openwork.store.atomic import ensure_private_dir
from openwork.store.lock import DataDirLock, Held

if TYPE_CHECKING:
    from openwork.runtime.stack import SandboxSetup
    from openwork.sandbox.mounts import Mount

__all__ = ["Launch", "prepare"]

log = get_logger("openwork.server")


@dataclass(kw_only=True)
class Launch:
    """What :func:`prepare` acquired; ``close`` releases it."""

    lock: DataDirLock
    sock: socket.socket
    credentials: Credentials
    binary: ResolvedBinary
    router_binary: ResolvedBinary | None
    sandbox: SandboxSetup | None

    def close(self) -> None:
        """Idempotent: close the listener, release the lock."""
        with contextlib.suppress(OSError):
            self.sock.close()
        self.lock.release()


def prepare(config: ServerConfig) -> Launch:
    """Acquire what a run needs, in the order that fails fastest. Logging must be set up."""
    ensure_private_dir(config.data_dir)
    ensure_private_dir(config.dirs.state)
    lock = _lock_data_dir(config)
    sock: socket.socket | None = None
    try:
        sock = bind_listener(config.host, config.port)
        if config.opencode_port_fixed:  # the caller will talk to opencode there: a taken port fails now
            require_free(config.opencode_host, config.opencode_port, flag="--opencode-port")
        mounts = _sandbox_mounts(config)  # refused before any binary or engine is touched
        binary = _resolve_opencode(config)
        sandbox = _sandbox_setup(config, binary, mounts) if config.sandbox != "none" else None
        router_binary = _resolve_router(config)
        credentials = load_credentials(
            config.data_dir,
            client_token=config.client_token,
            host_token=config.host_token,
            opencode=config.opencode_login or OpencodeLogin(),
        )
        return Launch(
            lock=lock, sock=sock, credentials=credentials, binary=binary, router_binary=router_binary, sandbox=sandbox
        )
    except BaseException:
        if sock is not None:
            sock.close()
        lock.release()
        raise


def _lock_data_dir(config: ServerConfig) -> DataDirLock:
    lock = DataDirLock(config.dirs.lock)
    try:
        lock.acquire()
    except Held as exc:
        raise ConfigError(
            f"another openwork server is already using the data dir {config.data_dir}",
            hint="stop it, or pass a different --data-dir",
        ) from exc
    return lock


def _resolve_opencode(config: ServerConfig) -> ResolvedBinary:
    resolver = Resolver(
        config.sidecar_settings(), CallbackProgress(lambda msg: log.info("sidecar.progress", message=msg))
    )
    binary = resolver.resolve("opencode")
    log.info("sidecar.resolved", **binary.to_json())
    return binary


def _sandbox_mounts(config: ServerConfig) -> tuple[Mount, ...]:
    if config.sandbox == "none":
        if config.sandbox_mounts:
            raise ConfigError("--sandbox-mount needs --sandbox")
        return ()
    from openwork.paths import sandbox_allowlist_path
    from openwork.sandbox.mounts import load_allowlist, parse_mount

    allowed = load_allowlist(sandbox_allowlist_path()) if config.sandbox_mounts else []
    return tuple(parse_mount(spec, allowed) for spec in config.sandbox_mounts)


def _sandbox_setup(config: ServerConfig, binary: ResolvedBinary, mounts: tuple[Mount, ...]) -> SandboxSetup:
    """The engine (checked usable), and a Linux opencode for the container's architecture."""
    from openwork.runtime.stack import SandboxSetup
    from openwork.sandbox.engine import choose_engine
    from openwork.sidecars.targets import current_target, machine_arch

    engine = choose_engine(config.sandbox, config.sandbox_engine)
    arch = machine_arch(default="x64")
    container_binary = binary.path
    if not current_target().startswith(f"linux-{arch}"):  # e.g. macOS: the container needs the Linux build
        container_binary = Resolver(config.sidecar_settings()).resolve("opencode", target=f"linux-{arch}").path
    log.info(
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
        persist_dir=config.sandbox_persist_dir or config.dirs.sandbox_persist,
        mounts=mounts,
        container_binary=container_binary,
    )


def _resolve_router(config: ServerConfig) -> ResolvedBinary | None:
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
            log.info("router.enabled", reason=why, **binary.to_json())
        except OpenworkError as exc:
            if config.router_required:
                raise
            log.warning("router.unavailable", reason=why, error=exc.message, consequence="running without it")
    else:
        log.info("router.disabled", reason=why)
    changed = sync_router_tools(config.data_dir, enabled=binary is not None)
    if changed:
        log.info("router.tools_synced", files=changed, installed=binary is not None)
    return binary
