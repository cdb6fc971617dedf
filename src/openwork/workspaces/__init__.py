"""The workspace registry: folders opencode serves, with ids stable across restarts and machines."""

from openwork.workspaces.registry import Workspace, WorkspaceInfo, WorkspaceRegistry, validate_folder, workspace_id

__all__ = ["Workspace", "WorkspaceInfo", "WorkspaceRegistry", "validate_folder", "workspace_id"]
