"""Pin a proxied request to its workspace's folder, in every form opencode accepts a directory.

A selector the caller sent is accepted only when it names the workspace's own folder (an SDK configured
with it keeps working) or is empty; anything else is refused with 403 before opencode sees the request.
Accepted selectors are then dropped and the folder is added in the form the operation takes. A JSON body
is parsed and rewritten only for operations whose body carries a selector (``Operation.body_selectors``),
under ``PINNED_BODY_LIMIT``; every other body passes through untouched.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from openwork.errors import ForbiddenError, ValidationError
from openwork.files.protected import ProtectedSet
from openwork.proxy.policy import Operation
from openwork.proxy.table import BODY_LOC, CWD, NO_WS

__all__ = ["PINNED_BODY_LIMIT", "Folder", "body_field", "check_file_url", "pin_body", "pin_headers", "pin_query"]

PINNED_BODY_LIMIT = 1024 * 1024  # bytes of a body we parse to rewrite its directory selector
OPENCODE_HEADER_PREFIX = "x-opencode-"  # opencode's own request headers: only the gateway sets them
# A query key naming any of these, in any spelling (location[directory], Location.Directory, ...), is
# dropped; the pinned forms are added afterwards.
_DROPPED_KEY_PARTS = ("directory", "location", "workspace", "worktree", "cwd")
_DROPPED_KEYS = frozenset({"project", "scope"})
_CURSOR_OWN_KEYS = frozenset({"directory", "project", "workspace", "subpath", "location"})


@dataclass(frozen=True, slots=True)
class Folder:
    """A workspace's folder on the host, and the same folder as opencode sees it (the sandbox mounts it
    elsewhere)."""

    host: str
    opencode: str

    def names(self, value: object) -> bool:
        """``value`` is empty or this folder (in either view)."""
        if value is None or value == "":
            return True
        if not isinstance(value, str) or "\x00" in value:
            return False
        path = posixpath.normpath(value)
        return path in (posixpath.normpath(self.host), posixpath.normpath(self.opencode))

    def accept(self, what: str, value: object) -> None:
        if not self.names(value):
            raise ForbiddenError(f"{what} must be this workspace's folder (or left out); the proxy pins it")

    def inside(self, path: str, *, host_view: bool = False) -> str | None:
        """``path`` (relative to the folder, or absolute as opencode sees it — or as the host does, when
        ``host_view``) as opencode sees it, normalised; ``None`` when it lies outside the folder, also when
        only a symlink takes it out."""
        root = self.opencode.rstrip("/") or "/"
        host = self.host.rstrip("/")
        norm = posixpath.normpath(path if posixpath.isabs(path) else posixpath.join(root, path))
        if _under(norm, root):
            rel = norm[len(root.rstrip("/")) :]  # "" or "/sub/dir"
        elif host_view and _under(norm, host or "/"):
            rel = norm[len(host) :]
        else:
            return None
        if not _under(os.path.realpath((host + rel) or "/"), os.path.realpath(self.host)):
            return None
        return (root.rstrip("/") + rel) or "/"

    def host_path(self, inside: str) -> str:
        """The host path of a path ``inside`` returned."""
        rel = inside[len(self.opencode.rstrip("/")) :]
        return (self.host.rstrip("/") + rel) or "/"


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _selector_key(key: str) -> bool:
    low = key.strip().lower()
    return low in _DROPPED_KEYS or any(part in low for part in _DROPPED_KEY_PARTS)


def pin_query(items: Iterable[tuple[str, str]], op: Operation | None, folder: Folder) -> list[tuple[str, str]]:
    """The query to forward, without any caller-chosen directory. The gateway adds ``directory``."""
    out = []
    for key, value in items:
        if _selector_key(key):
            folder.accept(f"query parameter {key[:64]!r}", value)
        else:
            out.append((key, value))
    if op is not None and op.template == "/api/session":
        out = [(k, _pin_cursor(v, folder.opencode) if k == "cursor" else v) for k, v in out]
    if op is not None and op.takes_location:
        out.append(("location[directory]", folder.opencode))
    return out


def _pin_cursor(value: str, directory: str) -> str:
    """opencode's list cursor is base64url JSON naming the directory it lists: keep its position, not
    its directory."""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise ValidationError("invalid cursor") from exc
    if not isinstance(decoded, dict):
        raise ValidationError("invalid cursor")
    pinned = {k: v for k, v in decoded.items() if k not in _CURSOR_OWN_KEYS} | {"directory": directory}
    return base64.urlsafe_b64encode(json.dumps(pinned, separators=(",", ":")).encode()).decode().rstrip("=")


def pin_headers(headers: Iterable[tuple[str, str]], folder: Folder) -> list[tuple[str, str]]:
    """The caller's headers without opencode's own (the gateway sets ``x-opencode-directory``)."""
    out = []
    for key, value in headers:
        low = key.lower()
        if not low.startswith(OPENCODE_HEADER_PREFIX):
            out.append((key, value))
        elif _selector_key(low[len(OPENCODE_HEADER_PREFIX) :]):
            # The SDK percent-encodes the folder in this header (opencode decodes it); either spelling of
            # this workspace's folder is it. The header is dropped either way: the gateway sets its own.
            decoded = unquote(value)
            folder.accept(f"header {low[:64]!r}", decoded if folder.names(decoded) else value)
    return out


def pin_body(op: Operation, body: bytes, folder: Folder, protected: ProtectedSet | None = None) -> bytes:
    """``body`` with its directory selectors pinned (or refused) and its ``file:`` URLs checked; unchanged
    for other operations."""
    if not op.rewrites_body:
        return body
    if op.body_selectors and len(body) > PINNED_BODY_LIMIT:
        raise ValidationError(f"a body that selects a directory must be under {PINNED_BODY_LIMIT} bytes")
    if not body.strip():
        if BODY_LOC not in op.flags:
            return body
        data: Any = {}
    else:
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise ValidationError("the request body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise ValidationError("the request body must be a JSON object")
    if NO_WS in op.flags and data.get("workspaceID") not in (None, ""):
        raise ForbiddenError("workspaceID is not accepted through a workspace's proxy")
    if BODY_LOC in op.flags:
        location = data.get("location")
        if location is not None and not isinstance(location, dict):
            raise ValidationError("location must be an object")
        if location and location.get("workspaceID") not in (None, ""):
            raise ForbiddenError("location.workspaceID is not accepted through a workspace's proxy")
        folder.accept("location.directory", (location or {}).get("directory"))
        data["location"] = {"directory": folder.opencode}
    if CWD in op.flags and "cwd" in data:
        data["cwd"] = resolve_cwd(data["cwd"], folder)
    if op.checks_file_urls:
        for url in _file_urls(data):
            check_file_url(url, folder, protected)
    if not op.body_selectors:
        return body  # only checked, nothing rewritten: the caller's bytes go on as they came
    return json.dumps(data, separators=(",", ":")).encode()


def body_field(body: bytes, name: str) -> object:
    """A top-level field of a JSON object body (already validated by ``pin_body``), or ``None``."""
    try:
        data = json.loads(body) if body.strip() else {}
    except ValueError:
        return None
    return data.get(name) if isinstance(data, dict) else None


def _file_urls(value: object, depth: int = 0) -> list[str]:
    """Every string in ``value`` that is a ``file:`` URL, wherever it sits (a part's url, a file's uri)."""
    if depth > 32:
        raise ValidationError("the request body is nested too deeply")
    if isinstance(value, str):
        return [value] if value.strip()[:5].lower() == "file:" else []
    if isinstance(value, dict):
        return [u for v in value.values() for u in _file_urls(v, depth + 1)]
    if isinstance(value, list):
        return [u for v in value for u in _file_urls(v, depth + 1)]
    return []


def check_file_url(url: str, folder: Folder, protected: ProtectedSet | None) -> None:
    """A ``file:`` URL opencode would read for a message part must name something inside the workspace
    (in either view, also through symlinks) and outside the server's own files."""
    raw = unquote(urlsplit(url.strip()).path)
    if "\x00" in raw:
        raise ValidationError("invalid file URL")
    inside = folder.inside(raw, host_view=True)
    if inside is None:
        raise ForbiddenError("a file: URL in a message must name a file inside the workspace")
    if protected is not None and protected.covers(folder.host_path(inside)):
        raise ForbiddenError("a file: URL in a message names the server's own files")


def resolve_cwd(cwd: object, folder: Folder) -> str:
    """A working directory inside the workspace, as opencode sees it; refuses one outside it (also
    through a symlink)."""
    if not isinstance(cwd, str) or not cwd or "\x00" in cwd:
        raise ValidationError("cwd must be a non-empty path")
    inside = folder.inside(cwd)
    if inside is None:
        raise ForbiddenError("cwd must be inside the workspace")
    return inside
