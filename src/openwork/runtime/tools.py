"""Managed opencode tools for the router, kept in the opencode config dir the server controls.

The dir is ``<data>/opencode-config`` (passed to opencode as ``OPENCODE_CONFIG_DIR`` while the router is
enabled), never the user's personal config. Only our two files (recognised by name and marker) are ever
written or removed there; writes are atomic and skipped when the content is already right.
"""

from __future__ import annotations

import json
from pathlib import Path

from openwork.store.atomic import write_atomic

__all__ = ["MARKER", "opencode_config_dir", "router_state_file", "sync_router_tools"]

MARKER = "// Managed by openwork: rewritten on start, removed when the router is disabled."

_STATUS = """{marker}
import {{ tool }} from "@opencode-ai/plugin"
import {{ readFileSync }} from "node:fs"

function routerUrl(): string {{
  return JSON.parse(readFileSync({state}, "utf8")).url
}}

export default tool({{
  description: "Read the OpenWork messaging router's status (is it up, which channels it serves).",
  args: {{}},
  async execute() {{
    const res = await fetch(`${{routerUrl()}}/health`)
    return await res.text()
  }},
}})
"""

_SEND = """{marker}
import {{ tool }} from "@opencode-ai/plugin"
import {{ readFileSync }} from "node:fs"

function routerUrl(): string {{
  return JSON.parse(readFileSync({state}, "utf8")).url
}}

export default tool({{
  description: "Send a message to a person or channel through the OpenWork messaging router.",
  args: {{
    to: tool.schema.string().describe("Recipient: a user or channel id the router knows"),
    text: tool.schema.string().describe("The message text"),
  }},
  async execute(args) {{
    const res = await fetch(`${{routerUrl()}}/send`, {{
      method: "POST",
      headers: {{ "content-type": "application/json" }},
      body: JSON.stringify({{ to: args.to, text: args.text }}),
    }})
    return await res.text()
  }},
}})
"""

# Where and as the original writes them (opencode loads ``tool/`` and ``tools/`` alike; the file name is the
# tool's name, so the agent sees the same tools under either host).
_FILES = {"opencode_router_status.ts": _STATUS, "opencode_router_send.ts": _SEND}
_TOOL_DIR = "tools"
# Our own earlier names and place: removed on every sync (only when they carry our marker).
_EARLIER = ("tool/openwork_router_status.ts", "tool/openwork_router_send.ts")


def opencode_config_dir(data_dir: Path) -> Path:
    return data_dir / "opencode-config"


def router_state_file(data_dir: Path) -> Path:
    """Where the server writes the router's current URL for the tools to read."""
    return opencode_config_dir(data_dir) / "openwork" / "router.json"


def _remove_ours(path: Path) -> bool:
    """Remove ``path`` if it is our managed file: a user's file of the same name has no marker."""
    if path.is_file() and path.read_text(encoding="utf-8", errors="replace").startswith(MARKER):
        path.unlink()
        return True
    return False


def sync_router_tools(data_dir: Path, *, enabled: bool) -> list[str]:
    """Write (enabled) or remove (disabled) the managed tools; returns the files that changed, relative
    to the opencode config dir."""
    root = opencode_config_dir(data_dir)
    state = str(router_state_file(data_dir))
    changed = [name for name in _EARLIER if _remove_ours(root / name)]
    for name, template in _FILES.items():
        path = root / _TOOL_DIR / name
        relative = f"{_TOOL_DIR}/{name}"
        if not enabled:
            if _remove_ours(path):
                changed.append(relative)
            continue
        content = template.format(marker=MARKER, state=json.dumps(state))
        try:
            current = path.read_text(encoding="utf-8")
        except OSError:
            current = None
        if current != content:
            write_atomic(path, content, mode=0o644)
            changed.append(relative)
    return changed
