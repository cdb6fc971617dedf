"""The dashboard driven with Textual's Pilot against the real API in-process (opencode not started)."""

from __future__ import annotations

import asyncio
import html
import re
from pathlib import Path

import httpx
import pytest
from rich.cells import cell_len

from openwork.api import AppContext, create_app
from openwork.approvals.service import WriteDenied
from openwork.tui.app import Dashboard
from openwork.tui.source import ApiSource
from tests.apphelpers import make_context

pytestmark = pytest.mark.anyio


_SVG_TEXT = re.compile(r"<text ([^>]*)>(.*?)</text>", re.DOTALL)
_SVG_ATTR = re.compile(r'([\w-]+)="([^"]*)"')
_SVG_LINE = re.compile(r"-line-(\d+)\)$")


def screen_text(app: Dashboard) -> str:
    """What the terminal shows, as plain text: read back from Textual's public SVG screenshot, where each
    run of text is placed on its line (its clip path) at its column (``x`` over the cell width)."""
    rows: dict[int, list[tuple[int, str]]] = {}
    for attributes, escaped in _SVG_TEXT.findall(app.export_screenshot()):
        attrs = dict(_SVG_ATTR.findall(attributes))
        line = _SVG_LINE.search(attrs.get("clip-path", ""))
        if line is None:  # the window title, not the terminal's content
            continue
        text = html.unescape(escaped).replace("\xa0", " ")
        cell = float(attrs["textLength"]) / len(text)
        rows.setdefault(int(line[1]), []).append((round(float(attrs["x"]) / cell), text))
    lines = []
    for number in range(app.size.height):
        row = ""
        for column, text in sorted(rows.get(number, [])):
            row += " " * max(0, column - cell_len(row)) + text
        lines.append(row.rstrip())
    return "\n".join(lines)


def dashboard(ctx: AppContext) -> Dashboard:
    transport = httpx.ASGITransport(app=create_app(ctx))
    source = ApiSource("http://127.0.0.1:8787", ctx.credentials.host_token, transport=transport)
    return Dashboard(source, token=ctx.credentials.client_token, refresh_interval=0.05)


async def settle(pilot: object, app: Dashboard) -> None:
    await app.refresh_data()
    await pilot.pause()  # type: ignore[attr-defined]


async def test_overview_at_80x24_hides_the_token_until_revealed(ctx: AppContext) -> None:
    app = dashboard(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        text = screen_text(app)
        assert "server" in text and "opencode" in text and "OpenWork URL   http://127.0.0.1:8787" in text
        assert ctx.credentials.client_token not in text and ctx.credentials.host_token not in text
        await pilot.press("t")
        await settle(pilot, app)
        assert ctx.credentials.client_token in screen_text(app)
        await pilot.press("t")
        await settle(pilot, app)
        assert ctx.credentials.client_token not in screen_text(app)
        await pilot.press("d")
    assert app.return_value == "detach"


async def test_logs_tab_filters_and_searches(ctx: AppContext) -> None:
    ctx.stack.hub.child_line("opencode", "opencode server listening on http://127.0.0.1:4096")
    ctx.stack.hub.child_line("opencode", "some other line")
    app = dashboard(ctx)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2")
        await settle(pilot, app)
        assert "[opencode] opencode server listening" in screen_text(app)
        await pilot.press("slash")
        await pilot.press(*"listening", "enter")
        await settle(pilot, app)
        text = screen_text(app)
        assert "search: listening" in text and "some other line" not in text
        await pilot.press("s", "s")  # all -> openwork -> opencode
        await settle(pilot, app)
        assert "service: opencode" in screen_text(app)
        await pilot.press("d")


async def test_workspaces_tab_lists_and_reports_failed_switch(ctx: AppContext, tmp_path: Path) -> None:
    for name in ("alpha", "beta"):
        (tmp_path / name).mkdir()
        ctx.registry.add((tmp_path / name).resolve())
    app = dashboard(ctx)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("3")
        await settle(pilot, app)
        text = screen_text(app)
        assert "alpha" in text and "beta" in text
        await pilot.press("down", "enter")
        await settle(pilot, app)
        assert "switched to beta failed: opencode is not running" in screen_text(app)
        await pilot.press("d")


@pytest.mark.parametrize(("key", "allowed"), [("a", True), ("n", False)])
async def test_approvals_arrive_and_are_answered_with_a_key(
    isolated_env: Path, workspace: Path, key: str, allowed: bool
) -> None:
    ctx = make_context(isolated_env, workspace, approval_mode="manual", approval_timeout_ms=20_000)
    paths = [{"path": f"src/f{i:02d}.py", "size": 10} for i in range(50)]
    waiting = asyncio.ensure_future(
        ctx.approvals.require(workspace_id="ws_x", who="client", action="write", paths=paths)
    )
    app = dashboard(ctx)
    async with app.run_test(size=(100, 70)) as pilot:
        await pilot.press("4")
        await settle(pilot, app)
        text = screen_text(app)
        assert "write 50 path(s), 500 bytes by client" in text
        assert all(p["path"] in text for p in paths)
        await pilot.press(key)
        await settle(pilot, app)
        await pilot.press("d")
    if allowed:
        await asyncio.wait_for(waiting, 5)
    else:
        with pytest.raises(WriteDenied):
            await asyncio.wait_for(waiting, 5)


async def test_q_asks_the_server_to_stop(ctx: AppContext) -> None:
    asked: list[bool] = []
    ctx.request_shutdown = lambda: asked.append(True)
    app = dashboard(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("q")
    assert app.return_value == "quit" and asked == [True]
