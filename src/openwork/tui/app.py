"""The Textual dashboard. It places the pure renders and turns keys into API calls; nothing more."""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Input, Static, TabbedContent, TabPane

from openwork.errors import OpenworkError
from openwork.tui import render
from openwork.tui.model import LEVELS, DashboardState, LogFilter
from openwork.tui.source import ApiSource

__all__ = ["REFRESH_INTERVAL", "Dashboard"]

REFRESH_INTERVAL = 0.5  # seconds between API polls
MAX_LOG_LINES = 4000  # kept in the dashboard's view (the server keeps 800 per service)
TABS = ("overview", "logs", "workspaces", "approvals", "help")


class Dashboard(App[str]):
    """Returns ``"quit"`` (the stack was asked to stop) or ``"detach"`` (it keeps running)."""

    TITLE = "OpenWork"
    AUTO_FOCUS = None  # keys go to the app's bindings; the search box takes focus only after `/`
    CSS = """
    Screen { layout: vertical; }
    TabbedContent { height: 1fr; }
    #search { dock: bottom; display: none; }
    #search.visible { display: block; }
    #footer { dock: bottom; height: 1; background: $panel; }
    #message { dock: bottom; height: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+c", "quit_stack", "quit", priority=True, show=False),
        Binding("q", "quit_stack", "quit"),
        Binding("d", "detach", "detach"),
        Binding("r", "restart", "restart"),
        Binding("t", "toggle_token", "token"),
        Binding("y", "copy_token", "copy"),
        *(Binding(str(i + 1), f"tab('{tab}')", tab, show=False) for i, tab in enumerate(TABS)),
        Binding("f", "follow", "follow", show=False),
        Binding("s", "cycle_service", "service", show=False),
        Binding("v", "cycle_level", "level", show=False),
        Binding("slash", "search", "search", show=False),
        Binding("up", "move(-1)", "up", show=False),
        Binding("down", "move(1)", "down", show=False),
        Binding("enter", "select", "select", show=False),
        Binding("x", "dispose", "dispose", show=False),
        Binding("a", "approve('allow')", "allow", show=False),
        Binding("n", "approve('deny')", "deny", show=False),
    ]

    def __init__(self, source: ApiSource, *, token: str, refresh_interval: float = REFRESH_INTERVAL) -> None:
        super().__init__()
        self.source = source
        self.state = DashboardState(openwork_url=source.url, token=token)
        self.filter = LogFilter()
        self._refresh_interval = refresh_interval
        self._last_log = 0
        self._leaving = False
        self._timer: Any = None

    def compose(self) -> ComposeResult:
        with TabbedContent(initial="overview"):
            for tab in TABS:
                with TabPane(tab.capitalize(), id=tab):
                    yield Static(id=f"{tab}-body")
        yield Input(placeholder="search the logs, enter to apply", id="search")
        yield Static(render.render_footer(), id="footer")
        yield Static(id="message")

    async def on_mount(self) -> None:
        self.query_one("#help-body", Static).update(Text("\n".join(render.render_help())))
        await self.refresh_data()
        self._timer = self.set_interval(self._refresh_interval, self.refresh_data)

    # -- data -------------------------------------------------------------------------------------
    async def refresh_data(self) -> None:
        if self._leaving:
            return
        try:
            self.state.apply_status(await self.source.status())
            workspaces = await self.source.workspaces()
            self.state.workspaces, self.state.active_id = list(workspaces["items"]), workspaces.get("activeId")
            approvals = await self.source.approvals()
            self.state.approvals, self.state.approval_mode = list(approvals["items"]), str(approvals["mode"])
            logs = await self.source.logs(self._last_log)
            if self.filter.follow:
                self.state.logs = (self.state.logs + list(logs["items"]))[-MAX_LOG_LINES:]
                self._last_log = int(logs["last"])
        except OpenworkError as exc:
            self.state.reachable, self.state.healthy, self.state.error = False, False, exc.message
        self._clamp()
        self.redraw()

    def _clamp(self) -> None:
        self.state.selected_workspace = max(0, min(self.state.selected_workspace, len(self.state.workspaces) - 1))
        self.state.selected_approval = max(0, min(self.state.selected_approval, len(self.state.approvals) - 1))

    def redraw(self) -> None:
        width = max(20, self.size.width - 2)
        height = max(5, self.size.height - 5)
        self._set("overview", render.render_overview(self.state, width))
        self._set("logs", render.render_logs(self.state.logs, self.filter, width=width, height=height))
        self._set("workspaces", render.render_workspaces(self.state, width))
        self._set("approvals", render.render_approvals(self.state, width))
        self.query_one("#message", Static).update(Text(self.state.message[:width]))

    def _set(self, tab: str, lines: list[str]) -> None:
        self.query_one(f"#{tab}-body", Static).update(Text("\n".join(lines)))

    def _tab(self) -> str:
        return str(self.query_one(TabbedContent).active)

    async def _act(self, what: str, call: Any) -> None:
        try:
            await call
            self.state.message = what
        except OpenworkError as exc:
            self.state.message = f"{what} failed: {exc.message}"
        await self.refresh_data()

    # -- actions ----------------------------------------------------------------------------------
    async def action_quit_stack(self) -> None:
        self.state.message = "stopping the stack..."
        self.redraw()
        with contextlib.suppress(OpenworkError):  # already gone: the caller makes sure it is
            await self.source.shutdown()
        await self._leave("quit")

    async def action_detach(self) -> None:
        await self._leave("detach")

    async def _leave(self, outcome: str) -> None:
        # The HTTP client's connections belong to this event loop: close them while it still runs,
        # after the refresh timer can no longer use them.
        self._leaving = True
        if self._timer is not None:
            self._timer.stop()
        await self.source.aclose()
        self.exit(outcome)

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_toggle_token(self) -> None:
        self.state.token_revealed = not self.state.token_revealed
        self.redraw()

    def action_copy_token(self) -> None:
        self.copy_to_clipboard(self.state.token)  # OSC 52: works where the terminal allows it
        self.state.message = "client token copied to the clipboard (OSC 52)"
        self.redraw()

    async def action_restart(self) -> None:
        await self._act("restarted opencode", self.source.restart("opencode"))

    def action_follow(self) -> None:
        self.filter.follow = not self.filter.follow
        self.redraw()

    def action_cycle_service(self) -> None:
        names = [None, "openwork", *[s.name for s in self.state.services]]
        self.filter.service = names[(names.index(self.filter.service) + 1) % len(names)]
        self.redraw()

    def action_cycle_level(self) -> None:
        self.filter.level = LEVELS[(LEVELS.index(self.filter.level) + 1) % len(LEVELS)]
        self.redraw()

    def action_search(self) -> None:
        box = self.query_one("#search", Input)
        box.add_class("visible")
        box.value = self.filter.search
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.filter.search = event.value.strip()
        event.input.remove_class("visible")
        self.set_focus(None)
        self.redraw()

    def action_move(self, step: int) -> None:
        if self._tab() == "workspaces":
            self.state.selected_workspace += step
        elif self._tab() == "approvals":
            self.state.selected_approval += step
        self._clamp()
        self.redraw()

    async def action_select(self) -> None:
        if self._tab() == "workspaces" and self.state.workspaces:
            ws = self.state.workspaces[self.state.selected_workspace]
            await self._act(f"switched to {ws['name']}", self.source.switch(str(ws["id"])))

    async def action_dispose(self) -> None:
        if self._tab() == "workspaces" and self.state.workspaces:
            ws = self.state.workspaces[self.state.selected_workspace]
            await self._act(f"disposed opencode's instance for {ws['name']}", self.source.dispose(str(ws["id"])))

    async def action_approve(self, reply: str) -> None:
        if self._tab() == "approvals" and self.state.approvals:
            item = self.state.approvals[self.state.selected_approval]
            verb = "allowed" if reply == "allow" else "denied"
            await self._act(f"{verb} {item['id']}", self.source.reply(str(item["id"]), reply))
