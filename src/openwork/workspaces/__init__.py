"""The workspace registry: folders opencode serves, with ids stable across restarts and machines."""

from openwork.workspaces.registry import Workspace, WorkspaceRegistry, validate_folder, workspace_id

__all__ = ["Workspace", "WorkspaceRegistry", "validate_folder", "workspace_id"]
