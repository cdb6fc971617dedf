"""One proxied request, from the caller's raw path to the pinned request the gateway sends to opencode."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from urllib.parse import quote, unquote

import httpx

from openwork.auth.principal import Principal
from openwork.errors import ForbiddenError, PayloadTooLarge, ValidationError
from openwork.files.protected import ProtectedSet
from openwork.proxy.ownership import SessionOwnership
from openwork.proxy.pinning import PINNED_BODY_LIMIT, Folder, body_field, pin_body, pin_headers, pin_query
from openwork.proxy.policy import Operation, authorize, match, split_path
from openwork.proxy.table import NO_WS
from openwork.runtime.gateway import OpencodeGateway

__all__ = ["Approve", "opencode_raw_path", "upstream_request"]

# Waits for the host's decision on an operation that starts a process (raises when it is not allowed).
Approve = Callable[[Operation, bytes], Awaitable[None]]

# HEAD is GET without a body and OPTIONS asks about a resource: both are classified, authorised and pinned
# as the GET of the same path (RFC 9110 9.3.2, 9.3.7), and sent with their own method.
_AS_GET = frozenset({"HEAD", "OPTIONS"})

# Characters left as they are when a decoded segment is encoded again (RFC 3986 pchar minus "%").
_SEGMENT_SAFE = "!$&'()*+,;=:@-._~"


def opencode_raw_path(raw_path: bytes, ws_id: str) -> str:
    """The still-encoded opencode path of ``/workspaces/{ws_id}/opencode/<path>``: the policy classifies
    what opencode will route, not what a decoder made of it."""
    parts = raw_path.decode("latin-1").split("/", 4)
    if len(parts) < 4 or parts[1] != "workspaces" or parts[3] != "opencode" or unquote(parts[2]) != ws_id:
        raise ValidationError("invalid proxy path")
    return parts[4] if len(parts) > 4 else ""


async def upstream_request(
    *,
    gateway: OpencodeGateway,
    sessions: SessionOwnership,
    principal: Principal,
    workspace_path: str,
    method: str,
    raw_path: str,
    query: Iterable[tuple[str, str]],
    headers: Iterable[tuple[str, str]],
    body: AsyncIterator[bytes] | None,
    approve: Approve | None = None,
    protected: ProtectedSet | None = None,
) -> httpx.Request:
    """Classify, authorise, check ownership, pin, and (``approve``) hold a process start for the host;
    raises ``ForbiddenError`` / ``NotFoundError`` / ``ValidationError`` before anything reaches opencode.

    ``body`` (None: the request has none) is streamed to opencode as it arrives, unless the operation's
    body must be read first: one that selects a directory (or is shown to the host for approval) is
    buffered under ``PINNED_BODY_LIMIT``; a message whose parts may name files (``file:`` URLs are
    checked) is buffered whole, under the proxy's body cap (the guard counts it)."""
    segments = split_path(raw_path)
    classified_as = "GET" if method.upper() in _AS_GET else method.upper()
    op = match(classified_as, segments)
    authorize(principal, op)
    folder = Folder(host=workspace_path, opencode=gateway.opencode_path(workspace_path))
    query = list(query)
    content: AsyncIterator[bytes] | bytes | None = body
    if op is not None and protected is not None:
        _keep_out(op, segments, query, folder, protected)
    if op is not None:
        session_id = op.session_id(segments)
        if session_id is not None:
            await sessions.check(gateway, session_id, folder)
        if op.is_global and classified_as != "GET":
            sessions.forget()  # e.g. a session moved to another directory
        if op.rewrites_body or (op.starts_process and approve is not None):
            small = bool(op.body_selectors) or op.starts_process
            data = pin_body(op, await _buffer(body, PINNED_BODY_LIMIT if small else None), folder, protected)
            parent = body_field(data, "parentID") if NO_WS in op.flags else None
            if isinstance(parent, str) and parent:  # a child session of another workspace's session
                await sessions.check(gateway, parent, folder)
            if op.starts_process and approve is not None:
                await approve(op, data)
            content = data or None
    path = "/" + "/".join(quote(seg, safe=_SEGMENT_SAFE) for seg in segments)
    headers = list(headers)
    request = gateway.build(
        method,
        path,
        workspace_path,
        params=pin_query(query, op, folder),
        headers=pin_headers(headers if isinstance(content, AsyncIterator) else _unsized(headers), folder),
        content=content,
    )
    if not any(name.lower() == "accept-encoding" for name, _ in headers):
        # httpx's client adds "gzip, deflate" by default; the caller asked for no encoding, so none is asked.
        del request.headers["accept-encoding"]
    return request


def _keep_out(
    op: Operation, segments: tuple[str, ...], query: list[tuple[str, str]], folder: Folder, protected: ProtectedSet
) -> None:
    """The server's own files are not readable through opencode's file routes either."""
    if op.searches and protected.within(folder.host):
        raise ForbiddenError(
            "this workspace holds the server's own files (its data dir or sidecar cache), so opencode's search "
            "is not available through the proxy; keep the data dir outside the workspace"
        )
    path = op.file_path(segments, query) if op.reads_path else None
    if path and path.startswith(folder.opencode.rstrip("/") + "/"):  # absolute, as opencode sees the folder
        path = path[len(folder.opencode.rstrip("/")) :]
    if path and protected.covers(os.path.join(folder.host, path.lstrip("/"))):
        raise ForbiddenError("that path holds the server's own files; it is not readable through the proxy")


async def _buffer(body: AsyncIterator[bytes] | None, limit: int | None) -> bytes:
    """The whole body, refused (413) past ``limit`` bytes without reading further (None: the guard's cap)."""
    if body is None:
        return b""
    chunks: list[bytes] = []
    size = 0
    async for chunk in body:
        size += len(chunk)
        if limit is not None and size > limit:
            raise PayloadTooLarge(f"a body that selects a directory or names files must be under {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _unsized(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Without the caller's length: the body sent is the (possibly rewritten) buffered one; httpx sizes it."""
    return [(k, v) for k, v in headers if k.lower() != "content-length"]
