"""The dashboard's panels are pure functions: state in, text out."""

from __future__ import annotations

from openwork.tui.model import DashboardState, LogFilter, Service
from openwork.tui.render import filter_logs, render_approvals, render_logs, render_overview, render_workspaces

TOKEN = "s3cret-client-token-value-0123456789"


def state() -> DashboardState:
    s = DashboardState(
        openwork_url="http://127.0.0.1:8787",
        token=TOKEN,
        reachable=True,
        healthy=True,
        server_version="0.1.0",
        server_pid=10,
        server_started_at=1000.0,
        workspace="/home/me/project",
    )
    s.services = [
        Service("opencode", "running", 4242, 4096, "1.18.33", 940.0, 2, None, "http://127.0.0.1:4096"),
        Service("router", "restart_scheduled", None, 3005, None, None, 5, "exited with code 1"),
        Service("sandbox", "crashed", None, None, None, None, 1, "killed by a signal"),
    ]
    return s


def test_overview_fits_80_columns_and_shows_every_service_and_url() -> None:
    lines = render_overview(state(), width=78, now=1060.0)
    text = "\n".join(lines)
    assert len(lines) <= 22 and all(len(line) <= 78 for line in lines)
    for name in ("server", "opencode", "router", "sandbox"):
        assert any(line.lstrip("●◐↻✖○◌·? ").startswith(name) for line in lines), name
    assert "http://127.0.0.1:8787" in text and "http://127.0.0.1:4096" in text
    assert "up 1m00s" in text and "up 2m00s" in text  # the server, then opencode
    assert "4242" in text and ":4096" in text and "v1.18.33" in text and "↻2" in text
    assert "last exit: exited with code 1" in text
    server_line = next(line for line in lines if line.lstrip("●◐↻✖○◌·? ").startswith("server"))
    assert ":8787" in server_line  # the server's own port, from its URL (was ":-")


def test_the_token_is_hidden_until_revealed() -> None:
    s = state()
    assert TOKEN not in "\n".join(render_overview(s, width=78))
    s.token_revealed = True
    assert TOKEN in "\n".join(render_overview(s, width=78))


def test_log_filters() -> None:
    entries = [
        {"seq": 1, "service": "openwork", "level": "INFO", "text": "service.state state=starting"},
        {"seq": 2, "service": "opencode", "level": "INFO", "text": "opencode server listening"},
        {"seq": 3, "service": "opencode", "level": "ERROR", "text": "boom: disk full"},
        {"seq": 4, "service": "openwork", "level": "WARN", "text": "sidecar.version_mismatch"},
    ]
    assert [e["seq"] for e in filter_logs(entries, LogFilter(service="opencode"))] == [2, 3]
    assert [e["seq"] for e in filter_logs(entries, LogFilter(level="WARN"))] == [3, 4]
    assert [e["seq"] for e in filter_logs(entries, LogFilter(search="LISTENING"))] == [2]
    lines = render_logs(entries, LogFilter(service="opencode", follow=False), width=80, height=10)
    assert lines[0].startswith("service: opencode") and "paused" in lines[0]
    assert lines[1:] == ["[opencode] opencode server listening", "[opencode] boom: disk full"]
    assert render_logs([], LogFilter())[1] == "(no lines)"


def test_workspaces_mark_active_and_cursor() -> None:
    s = state()
    s.workspaces = [{"id": "ws_a", "name": "A", "path": "/a"}, {"id": "ws_b", "name": "B", "path": "/b"}]
    s.active_id, s.selected_workspace = "ws_b", 0
    lines = render_workspaces(s)
    assert lines[1].startswith(">  ws_a") and lines[2].startswith(" * ws_b")


def test_an_approval_of_fifty_files_lists_every_path() -> None:
    s = state()
    paths = [{"path": f"src/f{i:02d}.py", "size": i} for i in range(50)]
    s.approvals = [{"id": "apr_1", "action": "write", "count": 50, "bytes": 1225, "who": "client", "paths": paths}]
    text = "\n".join(render_approvals(s))
    assert "write 50 path(s), 1225 bytes by client" in text
    assert all(p["path"] in text for p in paths)
