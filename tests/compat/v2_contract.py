"""The V2 contract's required fields and their types for the routes its clients call, written out as our own
compact schema (facts read from the contract, ``apps/server-v2/openapi/openapi.json``; not a copy of it),
and a checker that lists every difference of an answer.

Notation: a dict is an object whose keys are all required; a one-element list is an array of that; a tuple
is an enum (or a constant); ``Opt(x)`` is ``x`` or null; ``ISO``/``STR``/``INT``/``BOOL``/``NUM``/``MAP``
are the scalar types (``MAP``: a free-form object). Fields we add beside these are allowed: V2 objects are
open (no ``additionalProperties: false``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

ISO, STR, INT, BOOL, NUM, MAP = "iso", "str", "int", "bool", "num", "map"
_ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$")


@dataclass(frozen=True)
class Opt:
    """Nullable."""

    of: Any


RUNTIME_STATUS = ("crashed", "disabled", "error", "restart_scheduled", "running", "starting", "stopped")
TARGETS = ("darwin-arm64", "darwin-x64", "linux-arm64", "linux-x64", "windows-arm64", "windows-x64")
SOURCE = ("development", "release")

OUTPUT = {
    "combined": [{"at": ISO, "stream": ("stdout", "stderr"), "text": STR}],
    "stderr": [STR],
    "stdout": [STR],
    "totalLines": INT,
    "truncated": BOOL,
}
LAST_EXIT = {"at": ISO, "code": Opt(INT), "output": OUTPUT, "reason": STR, "signal": Opt(STR)}
_FILE = {"path": STR, "sha256": STR, "size": INT}
MANIFEST = {
    "files": {"opencode": _FILE, "opencode-router": _FILE},
    "generatedAt": ISO,
    "manifestVersion": (1,),
    "opencodeVersion": STR,
    "rootDir": STR,
    "routerVersion": STR,
    "serverVersion": STR,
    "source": SOURCE,
    "target": TARGETS,
}
RUNTIME_HEALTH = {
    "baseUrl": Opt(STR),
    "binaryPath": Opt(STR),
    "diagnostics": OUTPUT,
    "lastError": Opt(STR),
    "lastExit": Opt(LAST_EXIT),
    "lastReadyAt": Opt(ISO),
    "lastStartedAt": Opt(ISO),
    "manifest": Opt(MANIFEST),
    "pid": Opt(INT),
    "running": BOOL,
    "source": SOURCE,
    "status": RUNTIME_STATUS,
    "version": Opt(STR),
}
ROUTER_HEALTH = {
    **RUNTIME_HEALTH,
    "enablement": {
        "enabled": BOOL,
        "enabledBindingCount": INT,
        "enabledIdentityCount": INT,
        "forced": BOOL,
        "reason": STR,
    },
    "healthUrl": Opt(STR),
    "materialization": Opt(
        {"bindingCount": INT, "configPath": STR, "dataDir": STR, "dbPath": STR, "identityCount": INT, "logFile": STR}
    ),
}
DATABASE = {
    "bootstrapMode": ("fresh", "existing"),
    "configured": (True,),
    "importWarnings": INT,
    "kind": ("sqlite",),
    "migrations": {"appliedThisRun": [STR], "currentVersion": STR, "totalApplied": INT},
    "path": STR,
    "phaseOwner": (2,),
    "status": ("ready", "warning"),
    "summary": STR,
    "workingDirectory": STR,
}
AUTH = {
    "actorKind": ("anonymous", "client", "host"),
    "configured": {"clientToken": BOOL, "hostToken": BOOL},
    "headers": {"authorization": ("Authorization",), "hostToken": ("X-OpenWork-Host-Token",)},
    "required": BOOL,
    "scopes": {"hiddenWorkspaceReads": ("host",), "serverInventory": ("host",), "visibleRead": ("client_or_host",)},
}
CAPABILITIES = {
    "auth": AUTH,
    "registry": {
        "backendResolution": (True,),
        "hiddenWorkspaceFiltering": (True,),
        "serverInventory": (True,),
        "workspaceDetail": (True,),
        "workspaceList": (True,),
    },
    "runtime": {
        "opencodeHealth": (True,),
        "routerHealth": (True,),
        "runtimeSummary": (True,),
        "runtimeVersions": (True,),
    },
    "transport": {"rootMounted": (True,), "sdkPackage": ("@openwork/server-sdk",), "v2": (True,)},
}
_BRIEF = {"baseUrl": Opt(STR), "running": BOOL, "status": RUNTIME_STATUS, "version": Opt(STR)}
_VERSIONS = {"opencodeVersion": Opt(STR), "routerVersion": Opt(STR), "serverVersion": STR}
_SERVICE = ("openwork-server-v2",)
WORKSPACE = {
    "backend": {
        "kind": ("local_opencode", "remote_openwork"),
        "local": Opt({"configDir": Opt(STR), "dataDir": Opt(STR), "opencodeProjectId": Opt(STR)}),
        "remote": Opt(
            {
                "directory": Opt(STR),
                "hostUrl": Opt(STR),
                "remoteType": ("openwork", "opencode"),
                "remoteWorkspaceId": Opt(STR),
                "workspaceName": Opt(STR),
            }
        ),
        "serverId": STR,
    },
    "createdAt": ISO,
    "displayName": STR,
    "hidden": BOOL,
    "id": STR,
    "kind": ("local", "remote", "control", "help"),
    "preset": ("minimal", "remote", "starter"),
    "runtime": {
        "backendKind": ("local_opencode", "remote_openwork"),
        "health": Opt(MAP),
        "lastError": Opt(MAP),
        "lastSessionRefreshAt": Opt(ISO),
        "lastSyncAt": Opt(ISO),
        "updatedAt": Opt(ISO),
    },
    "server": {
        "auth": {"configured": BOOL, "scheme": ("bearer", "none")},
        "baseUrl": Opt(STR),
        "capabilities": MAP,
        "hostingKind": ("desktop", "self_hosted", "cloud"),
        "id": STR,
        "isEnabled": BOOL,
        "isLocal": BOOL,
        "kind": ("local", "remote"),
        "label": STR,
        "lastSeenAt": Opt(ISO),
        "source": STR,
        "updatedAt": ISO,
    },
    "slug": STR,
    "status": ("ready", "imported", "attention"),
    "updatedAt": ISO,
}

# The ``data`` of each route's success answer.
ROUTES: dict[str, Any] = {
    "/system/health": {
        "service": _SERVICE,
        "status": ("ok",),
        "startedAt": ISO,
        "uptimeMs": INT,
        "database": DATABASE,
    },
    "/system/status": {
        "auth": AUTH,
        "capabilities": CAPABILITIES,
        "database": DATABASE,
        "environment": STR,
        "registry": {
            "hiddenWorkspaceCount": INT,
            "localServerId": STR,
            "remoteServerCount": INT,
            "totalServers": INT,
            "visibleWorkspaceCount": INT,
        },
        "runtime": {"opencode": _BRIEF, "router": _BRIEF, "source": SOURCE, "target": TARGETS},
        "service": _SERVICE,
        "startedAt": ISO,
        "status": ("ok",),
        "uptimeMs": INT,
        "version": STR,
    },
    "/system/capabilities": CAPABILITIES,
    "/system/opencode/health": RUNTIME_HEALTH,
    "/system/runtime/versions": {
        "active": _VERSIONS,
        "manifest": Opt(MANIFEST),
        "pinned": _VERSIONS,
        "target": TARGETS,
    },
    "/system/runtime/summary": {
        "bootstrapPolicy": ("disabled", "eager", "manual"),
        "manifest": Opt(MANIFEST),
        "opencode": RUNTIME_HEALTH,
        "restartPolicy": {"backoffMs": INT, "maxAttempts": INT, "windowMs": INT},
        "router": ROUTER_HEALTH,
        "source": SOURCE,
        "target": TARGETS,
    },
    "/workspaces": {"items": [WORKSPACE]},
}
ENVELOPE = {"ok": (True,), "data": MAP, "meta": {"requestId": STR, "timestamp": ISO}}


def _scalar_ok(kind: str, value: Any) -> bool:
    if kind == ISO:
        return isinstance(value, str) and _ISO_RE.match(value) is not None
    if kind == STR:
        return isinstance(value, str)
    if kind == INT:
        return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= 2**53 - 1
    if kind == NUM:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == BOOL:
        return isinstance(value, bool)
    if kind == MAP:
        return isinstance(value, dict)
    raise AssertionError(f"unknown type {kind!r} in the schema")


def problems(value: Any, spec: Any, where: str = "data") -> list[str]:
    """Every way ``value`` misses ``spec``: a missing required field, a wrong type, a value off its enum."""
    if isinstance(spec, Opt):
        return [] if value is None else problems(value, spec.of, where)
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        found: list[str] = []
        for key, sub in spec.items():
            if key not in value:
                found.append(f"{where}.{key}: missing")
            else:
                found += problems(value[key], sub, f"{where}.{key}")
        return found
    if isinstance(spec, list):
        if not isinstance(value, list):
            return [f"{where}: expected an array, got {type(value).__name__}"]
        return [p for i, item in enumerate(value) for p in problems(item, spec[0], f"{where}[{i}]")]
    if isinstance(spec, tuple):
        ok = any(value == allowed and type(value) is type(allowed) for allowed in spec)
        return [] if ok else [f"{where}: {value!r} is not one of {spec!r}"]
    return [] if _scalar_ok(spec, value) else [f"{where}: {value!r} is not {spec}"]
