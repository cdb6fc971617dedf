"""Which opencode operation a proxied request is, and whether its caller may run it.

The classification is data (``proxy.table``); this module matches a request path against it, decides
by the caller's scope and workspace limitation, and says how each directory-like parameter or body
property of opencode's OpenAPI document is handled (``unhandled`` is what the coverage test runs).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from openwork.auth.principal import Access, Principal
from openwork.errors import ForbiddenError, ValidationError
from openwork.proxy.table import BODY_LOC, CWD, FILE, LOC, NO_WS, OPERATIONS, PARTS, PROC, SEARCH, G

__all__ = [
    "BODY_REVIEWED",
    "QUERY_REVIEWED",
    "QUERY_SELECTORS",
    "SELECTOR_NAME",
    "Operation",
    "authorize",
    "doc_names",
    "match",
    "operations",
    "split_path",
    "unhandled",
]

# A parameter or property whose name looks like it could pick a directory; each one must be handled.
# (``scope``: GET /session?scope=project lists every directory of a project.)
SELECTOR_NAME = re.compile(r"(?i)dir|directory|cwd|path|location|workspace|worktree|root|scope")

# Query parameters: selectors are replaced or dropped on every forwarded request (``proxy.pinning``).
QUERY_SELECTORS: Mapping[str, str] = {
    "directory": "pinned: replaced by the workspace's folder",
    "location": "pinned: location[directory] is the workspace's folder, other location[...] keys dropped",
    "location[directory]": "pinned: the workspace's folder",
    "location[workspace]": "dropped: opencode's experimental workspaces are not reachable through the proxy",
    "workspace": "dropped: opencode's experimental workspaces are not reachable through the proxy",
    "project": "dropped: it would list another project's sessions",
    "cursor": "re-pinned on GET /api/session: opencode's cursor carries the directory it lists",
    "scope": "refused when set: scope=project lists the sessions of every directory of the project",
}
QUERY_REVIEWED: Mapping[str, str] = {
    "path": "not a selector: a path inside the pinned directory; opencode refuses one that leaves it",
    "subpath": "not a selector: narrows a listing inside the pinned directory",
    "dirs": "not a selector: a boolean (include folders in file search results)",
    "roots": "not a selector: a boolean (only sessions without a parent)",
}
# Body properties (dotted, ``[]`` for array items) that look like selectors but are not.
BODY_REVIEWED: Mapping[str, str] = {
    "parts[].source.path": "not a selector: a file part's label; its url is checked (PARTS)",
    "source.path": "not a selector: a file part's label; its url is checked (PARTS)",
    "state.attachments[].source.path": "not a selector: an attachment's label; its url is checked (PARTS)",
    "config.cwd": "not a selector: an MCP server's config (admin only: such a config runs a command anyway)",
    "config.oauth.redirectUri": "not a selector: an OAuth redirect (admin only)",
    "config.oauth.scope": "not a selector: the OAuth scopes an MCP server asks for (admin only)",
    "skills.paths": "not a selector: config content (admin only)",
    "*permission.external_directory": "not a selector: a permission rule in config content (admin only)",
}
_BODY_SELECTORS: Mapping[str, frozenset[str]] = {
    CWD: frozenset({"cwd"}),
    BODY_LOC: frozenset({"location", "location.directory", "location.workspaceID"}),
    NO_WS: frozenset({"workspaceID"}),
}
_GLOBAL_REASON = "global operation: only callers that may reach every directory run it"


@dataclass(frozen=True, slots=True)
class Operation:
    """One opencode operation and what it needs."""

    method: str
    template: str
    access: Access
    reach: str
    flags: frozenset[str]
    segments: tuple[str | None, ...]  # None = a path parameter
    wildcard: bool  # the template ends in ``*`` (one or more further segments)
    params: tuple[str, ...]  # parameter names, in order

    @property
    def is_global(self) -> bool:
        return self.reach == G

    @property
    def reads_path(self) -> bool:
        return FILE in self.flags

    @property
    def rewrites_body(self) -> bool:
        """The JSON body is parsed (under the pinned-body cap) to pin or check what it names."""
        return bool(self.body_selectors) or PARTS in self.flags

    @property
    def checks_file_urls(self) -> bool:
        return PARTS in self.flags

    @property
    def searches(self) -> bool:
        return SEARCH in self.flags

    @property
    def starts_process(self) -> bool:
        return PROC in self.flags

    @property
    def takes_location(self) -> bool:
        return LOC in self.flags

    @property
    def body_selectors(self) -> frozenset[str]:
        return frozenset().union(*(_BODY_SELECTORS.get(flag, frozenset()) for flag in self.flags))

    def file_path(self, segments: tuple[str, ...], query: Iterable[tuple[str, str]]) -> str | None:
        """The workspace-relative path a ``FILE`` operation reads: its wildcard tail or ``path``."""
        if self.wildcard:
            return "/".join(segments[len(self.segments) :])
        return next((v for k, v in query if k == "path"), None)

    def session_id(self, segments: tuple[str, ...]) -> str | None:
        """The ``sessionID`` this request names, if any (its ownership is checked before forwarding)."""
        index = 0
        for position, seg in enumerate(self.segments):
            if seg is None:
                if self.params[index] == "sessionID":
                    return segments[position]
                index += 1
        return None


def _compile(method: str, template: str, access: Access, reach: str, flags: frozenset[str]) -> Operation:
    parts = template.strip("/").split("/")
    wildcard = parts[-1] == "*"
    if wildcard:
        parts = parts[:-1]
    segments = tuple(None if p.startswith("{") else p for p in parts)
    params = tuple(p[1:-1] for p in parts if p.startswith("{"))
    return Operation(method, template, access, reach, flags, segments, wildcard, params)


_OPERATIONS = tuple(_compile(*row) for row in OPERATIONS)
_BY_METHOD: dict[str, list[Operation]] = {}
for _op in _OPERATIONS:
    _BY_METHOD.setdefault(_op.method, []).append(_op)


def operations() -> tuple[Operation, ...]:
    return _OPERATIONS


def split_path(raw: str) -> tuple[str, ...]:
    """The decoded segments of a raw (still percent-encoded) opencode path; refuses anything that could
    mean a different path once a server normalises it (dot segments, encoded slashes, empty segments)."""
    if not raw:
        return ()
    segments = []
    for part in raw.split("/"):
        try:
            seg = unquote(part, errors="strict") if "%" in part else part
        except UnicodeDecodeError:  # e.g. overlong UTF-8 (%C0%AE): no name of ours, nor opencode's
            raise ValidationError("invalid opencode path: a segment is not valid UTF-8") from None
        if seg in ("", ".", "..") or any(c in seg for c in "/\\\x00") or any(ord(c) < 0x20 for c in seg):
            raise ValidationError("invalid opencode path: empty, dot or encoded-slash segments are refused")
        segments.append(seg)
    return tuple(segments)


def match(method: str, segments: tuple[str, ...]) -> Operation | None:
    """The operation a request is, preferring literal segments over parameters (``/session/status``
    before ``/session/{sessionID}``), as opencode's router does."""
    best: Operation | None = None
    best_rank: tuple[bool, ...] = ()
    for op in _BY_METHOD.get(method.upper(), ()):
        n = len(op.segments)
        if len(segments) != n and not (op.wildcard and len(segments) > n):
            continue
        if all(lit is None or lit == seg for lit, seg in zip(op.segments, segments, strict=False)):
            rank = (*(lit is not None for lit in op.segments), not op.wildcard)
            if best is None or rank > best_rank:
                best, best_rank = op, rank
    return best


def authorize(principal: Principal, op: Operation | None) -> None:
    """Raise ``ForbiddenError`` unless ``principal`` may run ``op`` through a workspace's proxy."""
    if op is None:
        # Not in the pinned opencode's document: the host and the client token only (fail closed).
        if not principal.is_minted:
            return
        raise ForbiddenError("this opencode operation is not in the proxy's policy; minted tokens cannot use it")
    if not principal.allows(op.access):
        raise ForbiddenError(f"this opencode operation needs a {_scope_name(op.access)} token")
    if op.is_global and not principal.is_global:
        raise ForbiddenError("this opencode operation spans workspaces; it needs an owner token not limited to any")


def _scope_name(access: Access) -> str:
    return {Access.READ: "viewer", Access.ACT: "collaborator", Access.ADMIN: "owner"}[access]


# -- the coverage check: every directory-like name of a /doc is handled ----------------------------


def _resolve(doc: Mapping[str, Any], schema: Any) -> Any:
    for _ in range(32):  # a $ref chain longer than this is a broken document
        if not (isinstance(schema, dict) and "$ref" in schema):
            break
        schema = doc.get("components", {}).get("schemas", {}).get(str(schema["$ref"]).rsplit("/", 1)[-1], {})
    return schema


def _properties(doc: Mapping[str, Any], schema: Any, prefix: str, depth: int = 0) -> Iterator[str]:
    schema = _resolve(doc, schema)
    if not isinstance(schema, dict) or depth > 8:
        return
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            yield from _properties(doc, sub, prefix, depth + 1)
    if "items" in schema:
        yield from _properties(doc, schema["items"], prefix + "[]", depth + 1)
    for name, sub in schema.get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        yield path
        yield from _properties(doc, sub, path, depth + 1)


def doc_names(doc: Mapping[str, Any]) -> Iterator[tuple[str, str, str, str]]:
    """(method, template, "query"|"body", name) for every query parameter and body property of ``doc``
    whose name matches ``SELECTOR_NAME``."""
    for template, ops in doc.get("paths", {}).items():
        for method, spec in ops.items():
            if not isinstance(spec, dict):
                continue
            for param in spec.get("parameters", []):
                if param.get("in") == "query" and SELECTOR_NAME.search(param.get("name", "")):
                    yield method.upper(), template, "query", param["name"]
            for content in spec.get("requestBody", {}).get("content", {}).values():
                for name in sorted(set(_properties(doc, content.get("schema"), ""))):
                    if SELECTOR_NAME.search(name.rsplit(".", 1)[-1]):
                        yield method.upper(), template, "body", name


def _handled(op: Operation, kind: str, name: str) -> bool:
    if op.is_global:
        return True  # _GLOBAL_REASON
    if kind == "query":
        return name in QUERY_SELECTORS or name in QUERY_REVIEWED
    if name in op.body_selectors or name in BODY_REVIEWED:
        return True
    return any(key.startswith("*") and name.endswith(key[1:]) for key in BODY_REVIEWED)


def unhandled(doc: Mapping[str, Any]) -> list[str]:
    """Every directory-like name of ``doc`` the policy neither pins nor has reviewed, and every
    operation of ``doc`` the table does not classify."""
    problems = []
    by_key = {(op.method, op.template): op for op in _OPERATIONS}
    for method, template, kind, name in doc_names(doc):
        op = by_key.get((method, template))
        if op is None or not _handled(op, kind, name):
            problems.append(f"{method} {template}: {kind} {name!r}")
    for template, ops in doc.get("paths", {}).items():
        for method in ops:
            if (method.upper(), template) not in by_key:
                problems.append(f"{method.upper()} {template}: not classified")
    return problems
