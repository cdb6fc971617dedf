"""The V2 contract's view of this server, built from the running context: who the caller is, the
database, each runtime component and the registry. Routes add these beside their own fields."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from openwork.api.models.v2 import (
    AuthConfigured,
    AuthSummary,
    Capabilities,
    DatabaseStatus,
    Migrations,
    RegistrySummary,
    RouterEnablement,
    RouterRuntimeHealth,
    RuntimeBrief,
    RuntimeHealth,
    RuntimeView,
)
from openwork.auth.principal import Principal
from openwork.sidecars.targets import current_target
from openwork.store.db import MIGRATIONS
from openwork.supervisor.state import ExitInfo, ServiceState, ServiceStatus, V2Status, v2_status
from openwork.supervisor.statusinfo import LastExitInfo, OutputSnapshot
from openwork.wire import iso_or_none
from openwork.workspaces.info import LOCAL_SERVER_ID

if TYPE_CHECKING:
    from openwork.api.context import AppContext

__all__ = [
    "auth_summary",
    "capabilities",
    "database_status",
    "opencode_health",
    "registry_summary",
    "router_health",
    "runtime_view",
    "uptime_ms",
]

DIAGNOSTIC_LINES = 200  # of a service's redacted output in its health answer (the hub keeps 800)


def auth_summary(caller: Principal | None) -> AuthSummary:
    """``caller`` None: an unauthenticated request (a native local client of the original counts as one)."""
    kind = "anonymous" if caller is None or caller.native else "host" if caller.is_host else "client"
    return AuthSummary(actor_kind=kind, configured=AuthConfigured(client_token=True, host_token=True), required=True)


def capabilities(caller: Principal | None) -> Capabilities:
    return Capabilities(auth=auth_summary(caller))


def uptime_ms(ctx: AppContext) -> int:
    return max(0, round((time.time() - ctx.started_at) * 1000))


def database_status(ctx: AppContext, *, disclose: bool) -> DatabaseStatus:
    """``disclose``: the caller may learn where the server keeps its state (never an anonymous one)."""
    db = ctx.db
    found, current = db.opened_at_version, len(MIGRATIONS)
    summary = f"sqlite schema {current}"
    if db.quarantined and disclose:
        summary += f"; the corrupt file was moved aside to {db.quarantined.name}"
    return DatabaseStatus(
        bootstrap_mode="fresh" if found == 0 else "existing",
        import_warnings=0,
        migrations=Migrations(
            applied_this_run=[str(v) for v in range(found + 1, current + 1)],
            current_version=str(current),
            total_applied=current,
        ),
        path=str(db.path) if disclose else "",
        status="warning" if db.quarantined else "ready",
        summary=summary,
        working_directory=str(ctx.config.data_dir) if disclose else "",
    )


def _diagnostics(ctx: AppContext, service: str, *, shown: bool) -> OutputSnapshot:
    """The service's recent output; empty unless ``shown``: it is the log, which only the host reads
    (``GET /system/logs``), and a limited token must not learn other workspaces from it."""
    if not shown:
        return OutputSnapshot.of([])
    entries = ctx.stack.hub.entries(service=service, limit=DIAGNOSTIC_LINES + 1)
    kept = entries[-DIAGNOSTIC_LINES:]
    return OutputSnapshot.of([(e.at, e.stream, e.text) for e in kept], truncated=len(entries) > len(kept))


def _exit(exit_info: ExitInfo | None, output: bool) -> LastExitInfo | None:
    if exit_info is None:
        return None
    return exit_info.model() if output else exit_info.model().without_output()


def _health(
    ctx: AppContext,
    status: ServiceStatus | None,
    *,
    url: str | None,
    binary: str | None,
    version: str | None,
    service: str,
    output: bool,
    external: bool,
) -> dict[str, object]:
    """The V2 fields of one component (``status`` None: not part of this stack)."""
    running = status is not None and status.state is ServiceState.RUNNING
    last_exit = status.last_exit if status is not None else None
    return {
        "base_url": url if running else None,
        "binary_path": binary,
        "diagnostics": _diagnostics(ctx, service, shown=output),
        "last_error": last_exit.reason if last_exit is not None and not running else None,
        "last_exit": _exit(last_exit, output),
        # We do not keep the moment it became ready apart from its start; a running service was both.
        "last_ready_at": iso_or_none(status.started_at) if running and status is not None else None,
        "last_started_at": iso_or_none(status.started_at) if status is not None else None,
        "pid": status.pid if status is not None else None,
        "source": "development" if external else "release",
        "running": running,
        "status": v2_status(status.state) if status is not None else V2Status.DISABLED,
        "version": version,
    }


def opencode_health(ctx: AppContext, *, output: bool) -> RuntimeHealth:
    """``output``: include its recent output (host callers only)."""
    driver = ctx.stack.driver
    fields = _health(
        ctx,
        ctx.stack.opencode.status(),
        url=driver.url,
        binary=str(driver.binary.path),
        version=driver.version,
        service="opencode",
        output=output,
        external=driver.binary.source == "external",
    )
    return RuntimeHealth.model_validate(fields)


def router_health(ctx: AppContext, *, output: bool) -> RouterRuntimeHealth:
    driver, service = ctx.stack.router_driver, ctx.stack.router
    status = service.status() if service is not None else None
    fields = _health(
        ctx,
        status,
        url=driver.url if driver is not None else None,
        binary=str(driver.binary.path) if driver is not None else None,
        version=driver.version if driver is not None else None,
        service="router",
        output=output,
        external=driver is not None and driver.binary.source == "external",
    )
    enabled = service is not None
    enablement = RouterEnablement(
        enabled=enabled,
        forced=ctx.config.router is not None,  # a flag decided, not the workspace's config
        reason="part of this stack" if enabled else "not enabled for this stack",
    )
    url = fields["base_url"]
    health_url = f"{url}/health" if isinstance(url, str) else None
    return RouterRuntimeHealth.model_validate({**fields, "enablement": enablement, "health_url": health_url})


def _brief(health: RuntimeHealth) -> RuntimeBrief:
    return RuntimeBrief(base_url=health.base_url, running=health.running, status=health.status, version=health.version)


def runtime_view(ctx: AppContext) -> RuntimeView:
    return RuntimeView(
        opencode=_brief(opencode_health(ctx, output=False)),
        router=_brief(router_health(ctx, output=False)),
        target=current_target(),
    )


async def registry_summary(ctx: AppContext, caller: Principal) -> RegistrySummary:
    records, _active = await ctx.workspaces.listing(caller.sees)
    remote_servers = {w.base_url for w in records if w.remote}
    return RegistrySummary(
        local_server_id=LOCAL_SERVER_ID,
        remote_server_count=len(remote_servers),
        total_servers=1 + len(remote_servers),
        visible_workspace_count=len(records),
    )
