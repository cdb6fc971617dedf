"""A workspace as it goes on the wire: our fields, the original server's spellings and the V2 contract's
summary (backend, server, runtime, times as ISO 8601), so clients of each generation read what they expect."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Literal

from openwork.wire import WireModel, iso

if TYPE_CHECKING:
    from openwork.workspaces.registry import Workspace

__all__ = ["LOCAL_SERVER_ID", "Kind", "WorkspaceInfo", "info_of"]

LOCAL_SERVER_ID = "srv_local"  # this server, in the V2 server inventory
Kind = Literal["local", "remote"]


class LocalBackend(WireModel):
    config_dir: str | None
    data_dir: str | None = None
    opencode_project_id: str | None = None


class RemoteBackend(WireModel):
    directory: str | None
    host_url: str | None
    remote_type: Literal["openwork", "opencode"] = "openwork"
    remote_workspace_id: str | None = None
    workspace_name: str | None = None


class Backend(WireModel):
    kind: Literal["local_opencode", "remote_openwork"]
    local: LocalBackend | None
    remote: RemoteBackend | None
    server_id: str


class WorkspaceRuntime(WireModel):
    backend_kind: Literal["local_opencode", "remote_openwork"]
    health: dict[str, Any] | None = None
    last_error: dict[str, Any] | None = None
    last_session_refresh_at: str | None = None
    last_sync_at: str | None = None
    updated_at: str | None = None


class ServerAuth(WireModel):
    configured: bool
    scheme: Literal["bearer", "none"]


class ServerItem(WireModel):
    """The server a workspace lives on: this one, or the remote it was registered from."""

    auth: ServerAuth
    base_url: str | None
    capabilities: dict[str, Any]
    hosting_kind: Literal["desktop", "self_hosted", "cloud"] = "self_hosted"
    id: str
    is_enabled: bool = True
    is_local: bool
    kind: Kind
    label: str
    last_seen_at: str | None = None
    source: str
    updated_at: str


class WorkspaceInfo(WireModel):
    """A registered workspace. ``displayName``/``folderPath``/``workspaceType`` are the V2 spellings of
    ``name``/``path``; both are sent because clients of either generation read them."""

    id: str
    name: str
    display_name: str
    slug: str
    path: str
    folder_path: str | None
    workspace_type: Kind = "local"
    kind: Kind
    base_url: str | None = None
    directory: str | None = None
    active: bool
    hidden: bool = False
    preset: Literal["minimal", "remote", "starter"]
    status: Literal["ready", "imported", "attention"] = "ready"
    backend: Backend
    runtime: WorkspaceRuntime
    server: ServerItem
    created_at: str
    updated_at: str


def _server(record: Workspace) -> ServerItem:
    updated = iso(record.updated_at)
    if not record.remote:
        auth = ServerAuth(configured=True, scheme="bearer")
        return ServerItem(
            auth=auth,
            base_url=None,
            capabilities={},
            id=LOCAL_SERVER_ID,
            is_local=True,
            kind="local",
            label="this server",
            source="local",
            updated_at=updated,
        )
    url = record.base_url or ""
    server_id = "srv_" + hashlib.sha256(url.encode()).hexdigest()[:12]
    return ServerItem(
        auth=ServerAuth(configured=False, scheme="none"),
        base_url=url or None,
        capabilities={},
        id=server_id,
        is_local=False,
        kind="remote",
        label=url,
        source="registered",
        updated_at=updated,
    )


def info_of(record: Workspace) -> WorkspaceInfo:
    """The record as it goes on the wire."""
    server = _server(record)
    backend_kind: Literal["local_opencode", "remote_openwork"] = (
        "remote_openwork" if record.remote else "local_opencode"
    )
    backend = Backend(
        kind=backend_kind,
        local=None if record.remote else LocalBackend(config_dir=str(_opencode_dir(record.path))),
        remote=RemoteBackend(directory=record.directory, host_url=record.base_url) if record.remote else None,
        server_id=server.id,
    )
    return WorkspaceInfo(
        id=record.id,
        name=record.name,
        display_name=record.name,
        slug=_slug(record.name),
        path=record.directory or "" if record.remote else record.path,
        folder_path=None if record.remote else record.path,
        workspace_type=record.kind,
        kind=record.kind,
        base_url=record.base_url,
        directory=record.directory,
        active=record.active,
        preset="remote" if record.remote else "minimal",
        backend=backend,
        runtime=WorkspaceRuntime(backend_kind=backend_kind),
        server=server,
        created_at=iso(record.created_at),
        updated_at=iso(record.updated_at),
    )


def _opencode_dir(path: str) -> str:
    return path.rstrip("/") + "/.opencode"


def _slug(name: str) -> str:
    """Lower-case letters, digits and single dashes (``My Project!`` → ``my-project``)."""
    cleaned = "".join(c if c.isalnum() else "-" for c in name.lower())
    return "-".join(part for part in cleaned.split("-") if part) or "workspace"
