"""The typed answers of the API, one module per area. Each is a ``WireModel`` (camelCase on the wire);
what describes a domain object (a workspace, a token, a service's status) lives next to that object and
is re-used here, so the domain packages never import the HTTP layer."""

from openwork.api.models.approvals import ApprovalDecision, ApprovalInfo, ApprovalList, ApprovalReplied
from openwork.api.models.files import BatchResult, CatalogSnapshot, ChangesPage, SessionClosed, SessionResult
from openwork.api.models.runtime import RuntimeSummary, UpgradeResult, Versions
from openwork.api.models.system import (
    EventMessage,
    Health,
    LogLine,
    LogPage,
    OpencodeHealth,
    RestartResult,
    RouterDisabled,
    RouterHealth,
    ServicesSnapshot,
    SystemStatus,
)
from openwork.api.models.tokens import NewToken, TokenInfo
from openwork.api.models.workspaces import (
    LegacyHealth,
    ShutdownResult,
    WorkspaceActivated,
    WorkspaceAdded,
    WorkspaceDisposed,
    WorkspaceList,
    WorkspacePath,
    WorkspaceRemoved,
    WorkspaceResult,
)

__all__ = [
    "ApprovalDecision",
    "ApprovalInfo",
    "ApprovalList",
    "ApprovalReplied",
    "BatchResult",
    "CatalogSnapshot",
    "ChangesPage",
    "EventMessage",
    "Health",
    "LegacyHealth",
    "LogLine",
    "LogPage",
    "NewToken",
    "OpencodeHealth",
    "RestartResult",
    "RouterDisabled",
    "RouterHealth",
    "RuntimeSummary",
    "ServicesSnapshot",
    "SessionClosed",
    "SessionResult",
    "ShutdownResult",
    "SystemStatus",
    "TokenInfo",
    "UpgradeResult",
    "Versions",
    "WorkspaceActivated",
    "WorkspaceAdded",
    "WorkspaceDisposed",
    "WorkspaceList",
    "WorkspacePath",
    "WorkspaceRemoved",
    "WorkspaceResult",
]
