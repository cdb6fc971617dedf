"""Pure render functions: state in, lines of text out. Tested as text; the app only places them."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from openwork.tui.model import LEVELS, DashboardState, LogFilter, Service

__all__ = [
    "KEYS",
    "filter_logs",
    "render_approvals",
    "render_footer",
    "render_help",
    "render_logs",
    "render_overview",
    "render_workspaces",
    "token_display",
]

KEYS: tuple[tuple[str, str], ...] = (
    ("1-5", "tabs"),
    ("t", "token"),
    ("y", "copy"),
    ("r", "restart"),
    ("d", "detach"),
    ("q", "quit"),
)
_STATE_MARK = {
    "running": "●",
    "starting": "◐",
    "restart_scheduled": "↻",
    "crashed": "✖",
    "hung": "✖",
    "errored": "✖",
    "stopped": "○",
    "stopping": "◌",
    "pending": "·",
}


def token_display(token: str, revealed: bool) -> str:
    if not token:
        return "(none)"
    return token if revealed else "•" * 8 + "  (t reveals, y copies)"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def _service_lines(svc: Service, now: float, width: int) -> list[str]:
    mark = _STATE_MARK.get(svc.state, "?")
    cols = [  # fits 78 columns: every service stays readable at 80x24
        f"{mark} {svc.name:<9}",
        f"{svc.state:<17}",
        f"pid {svc.pid or '-':<7}",
        f":{svc.port or '-':<5}",
        f"v{svc.version or '?':<8}",
        f"up {_duration(svc.uptime(now)):<6}",
        f"↻{svc.restarts}",
    ]
    lines = [_clip(" ".join(cols), width)]
    if svc.last_exit and svc.state != "running":
        lines.append(_clip(f"    last exit: {svc.last_exit}", width))
    return lines


def render_overview(state: DashboardState, width: int = 80, now: float | None = None) -> list[str]:
    """Every service on its own line, then the URLs and the (hidden) token: fits 80x24."""
    now = now if now is not None else time.time()
    health = "healthy" if state.healthy else ("unreachable" if not state.reachable else "not healthy")
    lines = [_clip(f"OpenWork {state.server_version}  ·  {health}  ·  workspace {state.workspace or '-'}", width), ""]
    server = Service(
        "server",
        "running" if state.reachable else "stopped",
        state.server_pid,
        state.server_port(),
        state.server_version or None,
        state.server_started_at,
        0,
        None,
    )
    lines += _service_lines(server, now, width)
    for svc in state.services:
        lines += _service_lines(svc, now, width)
    lines += [
        "",
        _clip(f"OpenWork URL   {state.openwork_url or '-'}", width),
        _clip(f"opencode URL   {state.opencode_url() or '-'}  (server credentials only)", width),
        _clip(f"client token   {token_display(state.token, state.token_revealed)}", width),
    ]
    if state.approvals:
        lines.append(_clip(f"approvals      {len(state.approvals)} waiting (tab 4)", width))
    if state.error:
        lines.append(_clip(f"error: {state.error}", width))
    return lines


def filter_logs(entries: Sequence[dict[str, Any]], flt: LogFilter) -> list[dict[str, Any]]:
    wanted = LEVELS.index(flt.level) if flt.level in LEVELS else 0
    needle = flt.search.lower()
    out = []
    for entry in entries:
        if flt.service and entry.get("service") != flt.service:
            continue
        level = str(entry.get("level", "INFO")).upper()
        rank = LEVELS.index(level) if level in LEVELS else (3 if level in ("FATAL",) else 1)
        if wanted and rank < wanted:
            continue
        if needle and needle not in str(entry.get("text", "")).lower():
            continue
        out.append(entry)
    return out


def render_logs(entries: Sequence[dict[str, Any]], flt: LogFilter, *, width: int = 80, height: int = 20) -> list[str]:
    shown = filter_logs(entries, flt)
    head = (
        f"service: {flt.service or 'all'} (s)  level: {flt.level} (v)  search: {flt.search or '-'} (/)  "
        f"{'following' if flt.follow else 'paused'} (f)"
    )
    body = [_clip(f"[{e.get('service')}] {e.get('text', '')}", width) for e in shown[-max(1, height - 1) :]]
    return [_clip(head, width), *body] if body else [_clip(head, width), "(no lines)"]


def render_workspaces(state: DashboardState, width: int = 80) -> list[str]:
    if not state.workspaces:
        return ["no workspaces: openwork workspace add PATH"]
    lines = ["  enter switches · x disposes opencode's instance"]
    for index, ws in enumerate(state.workspaces):
        cursor = ">" if index == state.selected_workspace else " "
        active = "*" if ws.get("id") == state.active_id else " "
        lines.append(_clip(f"{cursor}{active} {ws.get('id')}  {ws.get('name')}  {ws.get('path')}", width))
    return lines


def render_approvals(state: DashboardState, width: int = 80) -> list[str]:
    if not state.approvals:
        return [f"nothing waiting (mode: {state.approval_mode or '?'})"]
    lines = ["  a allows · n denies"]
    for index, item in enumerate(state.approvals):
        cursor = ">" if index == state.selected_approval else " "
        lines.append(
            _clip(
                f"{cursor} {item['id']}  {item['action']} {item['count']} path(s), {item['bytes']} bytes "
                f"by {item['who']}",
                width,
            )
        )
        for entry in item.get("paths", [])[:50]:
            lines.append(_clip(f"      {entry.get('path')}", width))
    return lines


def render_help() -> list[str]:
    return [
        "Tabs: 1 overview · 2 logs · 3 workspaces · 4 approvals · 5 help",
        "t reveal/hide the client token · y copy it (OSC 52 terminals)",
        "r restart opencode · d detach (the stack keeps running as a daemon)",
        "q or Ctrl+C stop everything in order and quit",
        "Logs: s service filter · v level · / search · f follow/pause",
        "Workspaces: ↑/↓ select · enter switch · x dispose",
        "Approvals: ↑/↓ select · a allow · n deny",
    ]


def render_footer(width: int = 80) -> str:
    return _clip("  ".join(f"{k} {label}" for k, label in KEYS), width)
