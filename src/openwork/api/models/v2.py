"""The parts of the V2 contract's answers that ours carry beside their own fields: the auth summary, the
capabilities, the database status, a runtime component's health and the registry summary.

Field names and types follow the V2 contract (``tests/compat/v2_contract.py`` checks them); constants that
state a capability are ``Literal`` so a change is a type error, not a silent lie.
"""

from __future__ import annotations

from typing import Final, Literal

from openwork.supervisor.state import V2Status
from openwork.supervisor.statusinfo import LastExitInfo, OutputSnapshot
from openwork.wire import WireModel

__all__ = [
    "SERVICE_NAME",
    "AuthSummary",
    "Capabilities",
    "DatabaseStatus",
    "Migrations",
    "RegistrySummary",
    "RouterEnablement",
    "RuntimeBrief",
    "RuntimeHealth",
    "RuntimeSource",
    "RuntimeView",
]

SERVICE_NAME: Final = "openwork-server-v2"  # what V2 clients check the server is
RuntimeSource = Literal["development", "release"]


class AuthHeaders(WireModel):
    authorization: Literal["Authorization"] = "Authorization"
    host_token: Literal["X-OpenWork-Host-Token"] = "X-OpenWork-Host-Token"  # noqa: S105 (a header name)


class AuthConfigured(WireModel):
    client_token: bool
    host_token: bool


class AuthScopes(WireModel):
    hidden_workspace_reads: Literal["host"] = "host"
    server_inventory: Literal["host"] = "host"
    visible_read: Literal["client_or_host"] = "client_or_host"


class AuthSummary(WireModel):
    """Who the caller is (as V2 names it) and how this server authenticates."""

    actor_kind: Literal["anonymous", "client", "host"]
    configured: AuthConfigured
    headers: AuthHeaders = AuthHeaders()
    required: bool
    scopes: AuthScopes = AuthScopes()


class RegistryCapabilities(WireModel):
    backend_resolution: Literal[True] = True
    hidden_workspace_filtering: Literal[True] = True
    server_inventory: Literal[True] = True
    workspace_detail: Literal[True] = True
    workspace_list: Literal[True] = True


class RuntimeCapabilities(WireModel):
    opencode_health: Literal[True] = True
    router_health: Literal[True] = True
    runtime_summary: Literal[True] = True
    runtime_versions: Literal[True] = True


class TransportCapabilities(WireModel):
    root_mounted: Literal[True] = True
    sdk_package: Literal["@openwork/server-sdk"] = "@openwork/server-sdk"
    v2: Literal[True] = True


class Capabilities(WireModel):
    auth: AuthSummary
    registry: RegistryCapabilities = RegistryCapabilities()
    runtime: RuntimeCapabilities = RuntimeCapabilities()
    transport: TransportCapabilities = TransportCapabilities()


class Migrations(WireModel):
    applied_this_run: list[str]
    current_version: str
    total_applied: int


class DatabaseStatus(WireModel):
    """The state database. ``path``/``workingDirectory`` are empty where the caller may not learn them."""

    bootstrap_mode: Literal["fresh", "existing"]
    configured: Literal[True] = True
    import_warnings: int
    kind: Literal["sqlite"] = "sqlite"
    migrations: Migrations
    path: str
    phase_owner: Literal[2] = 2
    status: Literal["ready", "warning"]
    summary: str
    working_directory: str


class RuntimeHealth(WireModel):
    """A managed component as the V2 contract reports it. ``manifest`` is always null: we pin versions in
    the release itself, not in a runtime manifest file."""

    base_url: str | None
    binary_path: str | None
    diagnostics: OutputSnapshot
    last_error: str | None
    last_exit: LastExitInfo | None
    last_ready_at: str | None
    last_started_at: str | None
    manifest: None = None
    pid: int | None
    running: bool
    source: RuntimeSource = "release"
    status: V2Status
    version: str | None


class RouterEnablement(WireModel):
    enabled: bool
    enabled_binding_count: int = 0
    enabled_identity_count: int = 0
    forced: bool
    reason: str


class RouterRuntimeHealth(RuntimeHealth):
    enablement: RouterEnablement
    health_url: str | None
    materialization: None = None  # the router keeps its own config; we do not materialize one


class RuntimeBrief(WireModel):
    base_url: str | None
    running: bool
    status: V2Status
    version: str | None


class RuntimeView(WireModel):
    opencode: RuntimeBrief
    router: RuntimeBrief
    source: RuntimeSource = "release"
    target: str


class RegistrySummary(WireModel):
    hidden_workspace_count: int = 0
    local_server_id: str
    remote_server_count: int
    total_servers: int
    visible_workspace_count: int
