"""The effective settings of a running sandbox, as its engine reports them (``openwork sandbox inspect``).

Pure: the caller runs the engine's ``inspect`` and hands over its JSON. docker and podman share the field
names read here; Apple ``container`` reports its own shape, shown as it comes.
"""

from __future__ import annotations

from typing import Any

__all__ = ["NANO", "render_settings", "summarize"]

NANO = 1_000_000_000  # docker's NanoCpus: billionths of a CPU


def summarize(kind: str, raw: dict[str, Any]) -> dict[str, Any]:
    """The privilege-relevant part of one container's ``inspect`` document."""
    if kind == "container":  # Apple's document has a different shape; its configuration is what matters
        config = raw.get("configuration", raw)
        return {"engine": kind, "configuration": config}
    host: dict[str, Any] = raw.get("HostConfig") or {}
    config = raw.get("Config") or {}
    cpus: float | None = None
    if host.get("NanoCpus"):
        cpus = host["NanoCpus"] / NANO
    elif host.get("CpuQuota") and host.get("CpuPeriod"):
        cpus = host["CpuQuota"] / host["CpuPeriod"]
    return {
        "engine": kind,
        "name": str(raw.get("Name", "")).lstrip("/"),
        "user": config.get("User") or "(image default)",
        "capDrop": host.get("CapDrop") or [],
        "capAdd": host.get("CapAdd") or [],
        "noNewPrivileges": any(str(o).startswith("no-new-privileges") for o in host.get("SecurityOpt") or []),
        "readOnlyRoot": bool(host.get("ReadonlyRootfs")),
        "tmpfs": host.get("Tmpfs") or {},
        "memoryBytes": host.get("Memory") or None,
        "cpus": cpus,
        "pidsLimit": host.get("PidsLimit") or None,
        "network": host.get("NetworkMode"),
        "mounts": [
            {"source": m.get("Source"), "target": m.get("Destination"), "readOnly": not m.get("RW", True)}
            for m in raw.get("Mounts") or []
        ],
    }


def render_settings(summary: dict[str, Any]) -> str:
    """The summary as aligned lines for a terminal."""
    if "configuration" in summary:
        return f"engine        {summary['engine']}\nconfiguration {summary['configuration']}"
    memory = summary["memoryBytes"]
    lines = [
        ("container", summary["name"]),
        ("engine", summary["engine"]),
        ("user", summary["user"]),
        ("caps dropped", ", ".join(summary["capDrop"]) or "none"),
        ("caps added", ", ".join(summary["capAdd"]) or "none"),
        ("no-new-privs", "yes" if summary["noNewPrivileges"] else "NO"),
        ("read-only /", "yes" if summary["readOnlyRoot"] else "NO"),
        ("tmpfs", ", ".join(f"{k} ({v})" for k, v in summary["tmpfs"].items()) or "none"),
        ("memory", f"{memory / 1024**3:g} GiB" if memory else "unlimited"),
        ("cpus", f"{summary['cpus']:g}" if summary["cpus"] else "unlimited"),
        ("pids limit", str(summary["pidsLimit"] or "unlimited")),
        ("network", str(summary["network"])),
    ]
    lines += [("mount", f"{m['source']} -> {m['target']}{' (ro)' if m['readOnly'] else ''}") for m in summary["mounts"]]
    return "\n".join(f"{key:<13} {value}" for key, value in lines)
