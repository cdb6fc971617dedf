"""Every operation of opencode's OpenAPI document (``GET /doc``, opencode 1.18.33), classified once.

Columns: method, path template, the access it needs (R read = viewer+, A act = collaborator+, M admin =
owner+), its reach (W = one directory, pinned to the workspace; G = spans directories or the whole
opencode process: host, client token and owner tokens not limited to workspaces only), and its flags:
``LOC`` the operation takes ``location[...]`` in the query, ``BODY_LOC`` / ``CWD`` / ``NO_WS`` its JSON
body carries a directory selector (see ``proxy.pinning``), ``PROC`` it starts a process (a terminal, a
shell command), so ``--approval manual`` holds it for the host like a file write; ``FILE`` / ``SEARCH`` it
reads files by path / searches them (see ``openwork.files.protected``).

A test loads the live ``/doc`` and fails when an operation is missing here or classified twice.
"""

from __future__ import annotations

from openwork.auth.principal import Access

__all__ = ["BODY_LOC", "CWD", "FILE", "LOC", "NO_WS", "OPERATIONS", "PARTS", "PROC", "SEARCH", "G", "Row", "W"]

R, A, M = Access.READ, Access.ACT, Access.ADMIN
W, G = "workspace", "global"
LOC = "loc"  # query: location[directory] pinned, location[workspace] dropped
BODY_LOC = "body-loc"  # body: location.directory pinned, location.workspaceID refused
CWD = "cwd"  # body: cwd must resolve inside the workspace
NO_WS = "no-ws"  # body: workspaceID refused (opencode's experimental workspaces are not exposed)
PROC = "proc"  # starts a process on the host: in manual approval mode a minted token waits for the host
FILE = "file"  # reads the file or folder its ``path`` (or wildcard tail) names: never one the server owns
SEARCH = "search"  # searches or diffs the tree: refused where the server's own files lie inside
PARTS = "parts"  # message parts: a file: URL in the body must name a file inside the workspace

Row = tuple[str, str, Access, str, frozenset[str]]


def _row(method: str, template: str, access: Access, reach: str, *flags: str) -> Row:
    return (method, template, access, reach, frozenset(flags))


OPERATIONS: tuple[Row, ...] = (
    # -- process-wide: credentials, global config and events, upgrades --------------------------
    _row("PUT", "/auth/{providerID}", M, G),
    _row("DELETE", "/auth/{providerID}", M, G),
    _row("GET", "/global/health", R, W),  # liveness only, nothing about any directory
    _row("GET", "/global/event", R, G),
    _row("GET", "/global/config", M, G),
    _row("PATCH", "/global/config", M, G, PROC),  # MCP servers and formatters are commands
    _row("POST", "/global/dispose", M, G),
    _row("POST", "/global/upgrade", M, G),
    _row("POST", "/experimental/control-plane/move-session", M, G),
    _row("POST", "/log", A, W),
    # -- the pinned directory's instance ---------------------------------------------------------
    _row("GET", "/event", R, W),
    _row("GET", "/config", M, W),  # may hold provider keys
    _row("PATCH", "/config", M, W, PROC),
    _row("GET", "/config/providers", M, G),  # likewise
    _row("GET", "/experimental/capabilities", R, W),
    _row("GET", "/experimental/console", M, W),
    _row("GET", "/experimental/console/orgs", M, W),
    _row("POST", "/experimental/console/switch", M, G),
    _row("GET", "/experimental/tool", R, W),
    _row("GET", "/experimental/tool/ids", R, W),
    _row("GET", "/experimental/worktree", R, W),
    _row("POST", "/experimental/worktree", M, W, PROC),
    _row("DELETE", "/experimental/worktree", M, G),  # body names any worktree directory
    _row("POST", "/experimental/worktree/reset", M, G),  # likewise
    _row("GET", "/experimental/session", R, G),  # lists sessions with their projects
    _row("POST", "/experimental/session/{sessionID}/background", A, W),
    _row("GET", "/experimental/resource", R, W),
    _row("GET", "/find", R, W, SEARCH),
    _row("GET", "/find/file", R, W, SEARCH),
    _row("GET", "/find/symbol", R, W, SEARCH),
    _row("GET", "/file", R, W, FILE),
    _row("GET", "/file/content", R, W, FILE),
    _row("GET", "/file/status", R, W, SEARCH),
    _row("POST", "/instance/dispose", M, W),
    _row("GET", "/path", R, W),
    _row("GET", "/vcs", R, W),
    _row("GET", "/vcs/status", R, W, SEARCH),
    _row("GET", "/vcs/diff", R, W, SEARCH),
    _row("GET", "/vcs/diff/raw", R, W, SEARCH),
    _row("POST", "/vcs/apply", M, W, PROC),  # writes any file, code config included
    _row("GET", "/command", R, W),
    _row("GET", "/agent", R, W),
    _row("GET", "/skill", R, W),
    _row("GET", "/lsp", R, W),
    _row("GET", "/formatter", R, W),
    _row("GET", "/mcp", R, W),
    _row("POST", "/mcp", M, W, PROC),  # an MCP server's config runs a command
    _row("POST", "/mcp/{name}/auth", M, W),
    _row("DELETE", "/mcp/{name}/auth", M, W),
    _row("POST", "/mcp/{name}/auth/callback", M, W),
    _row("POST", "/mcp/{name}/auth/authenticate", M, W),
    _row("POST", "/mcp/{name}/connect", M, W, PROC),
    _row("POST", "/mcp/{name}/disconnect", M, W),
    # -- projects span directories ---------------------------------------------------------------
    _row("GET", "/project", R, G),
    _row("GET", "/project/current", R, W),
    _row("POST", "/project/git/init", A, W),
    _row("PATCH", "/project/{projectID}", M, G),
    _row("GET", "/project/{projectID}/directories", R, G),
    _row("POST", "/experimental/project/{projectID}/copy/generate-name", M, G),
    _row("POST", "/experimental/project/{projectID}/copy", M, G, LOC),
    _row("DELETE", "/experimental/project/{projectID}/copy", M, G, LOC),
    _row("POST", "/experimental/project/{projectID}/copy/refresh", M, G, LOC),
    # -- terminals: opencode keeps them per directory instance, so an id is found only in its own --
    _row("GET", "/pty/shells", R, W),
    _row("GET", "/pty", R, W),
    _row("POST", "/pty", A, W, CWD, PROC),
    _row("GET", "/pty/{ptyID}", R, W),
    _row("PUT", "/pty/{ptyID}", A, W),
    _row("DELETE", "/pty/{ptyID}", A, W),
    _row("POST", "/pty/{ptyID}/connect-token", A, W),
    _row("GET", "/pty/{ptyID}/connect", A, W),
    # -- questions and permissions of the pinned instance ------------------------------------------
    _row("GET", "/question", R, W),
    _row("POST", "/question/{requestID}/reply", A, W),
    _row("POST", "/question/{requestID}/reject", A, W),
    _row("GET", "/permission", R, W),
    _row("POST", "/permission/{requestID}/reply", A, W),
    # -- providers ---------------------------------------------------------------------------------
    _row("GET", "/provider", M, G),  # answers carry the providers' API keys
    _row("GET", "/provider/auth", R, W),
    _row("POST", "/provider/{providerID}/oauth/authorize", M, G),
    _row("POST", "/provider/{providerID}/oauth/callback", M, G),
    # -- sessions (by id: owned by the workspace's directory, see proxy.ownership) ---------------------
    _row("GET", "/session", R, W),
    _row("POST", "/session", A, W, NO_WS),  # parentID: owned by this workspace
    _row("GET", "/session/status", R, W),
    _row("GET", "/session/{sessionID}", R, W),
    _row("DELETE", "/session/{sessionID}", A, W),
    _row("PATCH", "/session/{sessionID}", A, W),
    _row("GET", "/session/{sessionID}/children", R, W),
    _row("GET", "/session/{sessionID}/todo", R, W),
    _row("GET", "/session/{sessionID}/diff", R, W, SEARCH),
    _row("GET", "/session/{sessionID}/message", R, W),
    _row("POST", "/session/{sessionID}/message", A, W, PARTS),
    _row("GET", "/session/{sessionID}/message/{messageID}", R, W),
    _row("DELETE", "/session/{sessionID}/message/{messageID}", A, W),
    _row("POST", "/session/{sessionID}/fork", A, W),
    _row("POST", "/session/{sessionID}/abort", A, W),
    _row("POST", "/session/{sessionID}/init", A, W),
    _row("POST", "/session/{sessionID}/share", M, W),  # publishes the session outside this machine
    _row("DELETE", "/session/{sessionID}/share", M, W),
    _row("POST", "/session/{sessionID}/summarize", A, W),
    _row("POST", "/session/{sessionID}/prompt_async", A, W, PARTS),
    _row("POST", "/session/{sessionID}/command", A, W, PROC, PARTS),
    _row("POST", "/session/{sessionID}/shell", A, W, PROC),
    _row("POST", "/session/{sessionID}/revert", A, W),
    _row("POST", "/session/{sessionID}/unrevert", A, W),
    _row("POST", "/session/{sessionID}/permissions/{permissionID}", A, W),
    _row("DELETE", "/session/{sessionID}/message/{messageID}/part/{partID}", A, W),
    _row("PATCH", "/session/{sessionID}/message/{messageID}/part/{partID}", A, W, PARTS),
    # -- sync, the TUI remote control, opencode's experimental workspaces ----------------------------
    _row("POST", "/sync/start", M, G),
    _row("POST", "/sync/replay", M, G),
    _row("POST", "/sync/steal", M, G),
    _row("POST", "/sync/history", M, G),
    _row("POST", "/tui/append-prompt", M, W),
    _row("POST", "/tui/open-help", M, W),
    _row("POST", "/tui/open-sessions", M, W),
    _row("POST", "/tui/open-themes", M, W),
    _row("POST", "/tui/open-models", M, W),
    _row("POST", "/tui/submit-prompt", M, W),
    _row("POST", "/tui/clear-prompt", M, W),
    _row("POST", "/tui/execute-command", M, W),
    _row("POST", "/tui/show-toast", M, W),
    _row("POST", "/tui/publish", M, W),
    _row("POST", "/tui/select-session", M, W),
    _row("GET", "/tui/control/next", M, W),
    _row("POST", "/tui/control/response", M, W),
    _row("GET", "/experimental/workspace/adapter", M, G),
    _row("GET", "/experimental/workspace", M, G),
    _row("POST", "/experimental/workspace", M, G),
    _row("POST", "/experimental/workspace/sync-list", M, G),
    _row("GET", "/experimental/workspace/status", M, G),
    _row("DELETE", "/experimental/workspace/{id}", M, G),
    _row("POST", "/experimental/workspace/warp", M, G),
    # -- the v2 API (/api): the directory travels as location[directory] or in the body ---------------
    _row("GET", "/api/health", R, W),
    _row("GET", "/api/location", R, W, LOC),
    _row("GET", "/api/agent", R, W, LOC),
    _row("GET", "/api/session", R, W),  # directory pinned, project dropped, cursor re-pinned
    _row("POST", "/api/session", A, W, BODY_LOC),
    _row("GET", "/api/session/active", R, G),
    _row("GET", "/api/session/{sessionID}", R, W),
    _row("POST", "/api/session/{sessionID}/agent", A, W),
    _row("POST", "/api/session/{sessionID}/model", A, W),
    _row("POST", "/api/session/{sessionID}/prompt", A, W, PARTS),
    _row("POST", "/api/session/{sessionID}/compact", A, W),
    _row("POST", "/api/session/{sessionID}/wait", R, W),  # waits for the session to go idle
    _row("POST", "/api/session/{sessionID}/revert/stage", A, W),
    _row("POST", "/api/session/{sessionID}/revert/clear", A, W),
    _row("POST", "/api/session/{sessionID}/revert/commit", A, W),
    _row("GET", "/api/session/{sessionID}/context", R, W),
    _row("GET", "/api/session/{sessionID}/history", R, W),
    _row("GET", "/api/session/{sessionID}/event", R, W),
    _row("POST", "/api/session/{sessionID}/interrupt", A, W),
    _row("GET", "/api/session/{sessionID}/message/{messageID}", R, W),
    _row("GET", "/api/session/{sessionID}/message", R, W),
    _row("POST", "/api/session/{sessionID}/permission", A, W),
    _row("GET", "/api/session/{sessionID}/permission", R, W),
    _row("GET", "/api/session/{sessionID}/permission/{requestID}", R, W),
    _row("POST", "/api/session/{sessionID}/permission/{requestID}/reply", A, W),
    _row("GET", "/api/session/{sessionID}/question", R, W),
    _row("POST", "/api/session/{sessionID}/question/{requestID}/reply", A, W),
    _row("POST", "/api/session/{sessionID}/question/{requestID}/reject", A, W),
    _row("GET", "/api/model", R, W, LOC),
    _row("GET", "/api/provider", R, W, LOC),
    _row("GET", "/api/provider/{providerID}", R, W, LOC),
    _row("GET", "/api/integration", R, W, LOC),
    _row("GET", "/api/integration/{integrationID}", R, W, LOC),
    _row("POST", "/api/integration/{integrationID}/connect/key", M, G, LOC),
    _row("POST", "/api/integration/{integrationID}/connect/oauth", M, G, LOC),
    _row("GET", "/api/integration/attempt/{attemptID}", M, G, LOC),
    _row("DELETE", "/api/integration/attempt/{attemptID}", M, G, LOC),
    _row("POST", "/api/integration/attempt/{attemptID}/complete", M, G, LOC),
    _row("PATCH", "/api/credential/{credentialID}", M, G, LOC),
    _row("DELETE", "/api/credential/{credentialID}", M, G, LOC),
    _row("GET", "/api/permission/request", R, W, LOC),
    _row("GET", "/api/permission/saved", M, G),  # by projectID
    _row("DELETE", "/api/permission/saved/{id}", M, G),
    _row("GET", "/api/fs/read/*", R, W, LOC, FILE),
    _row("GET", "/api/fs/list", R, W, LOC, FILE),
    _row("GET", "/api/fs/find", R, W, LOC, SEARCH),
    _row("GET", "/api/command", R, W, LOC),
    _row("GET", "/api/skill", R, W, LOC),
    _row("GET", "/api/event", R, G),  # every directory's events
    _row("GET", "/api/pty", R, W, LOC),
    _row("POST", "/api/pty", A, W, LOC, CWD, PROC),
    _row("GET", "/api/pty/{ptyID}", R, W, LOC),
    _row("PUT", "/api/pty/{ptyID}", A, W, LOC),
    _row("DELETE", "/api/pty/{ptyID}", A, W, LOC),
    _row("POST", "/api/pty/{ptyID}/connect-token", A, W, LOC),
    _row("GET", "/api/pty/{ptyID}/connect", A, W, LOC),
    _row("GET", "/api/question/request", R, W, LOC),
    _row("GET", "/api/reference", R, W, LOC),
)
