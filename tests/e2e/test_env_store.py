"""The user env store reaches the real opencode's environment, and changes through the API at a restart."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import ServerProcess, wait_for

pytestmark = pytest.mark.e2e


def environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode(errors="replace").split("=", 1) for item in raw if b"=" in item)


def test_the_store_reaches_opencode_and_the_api_changes_it(
    real_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    store = Path.home() / ".config" / "openwork" / "env.json"  # HOME is the test's own
    store.parent.mkdir(parents=True)
    store.write_text(json.dumps({"MY_API_KEY": "sk-from-the-store-1"}))
    server = real_server()
    first = server.info["pids"]["opencode"]
    assert environ(first)["MY_API_KEY"] == "sk-from-the-store-1"
    with server.client(token=server.info["hostToken"]) as host:
        listed = host.get("/system/env").json()["data"]
        assert listed["variables"] == [{"name": "MY_API_KEY", "value": "[REDACTED]"}]
        assert "sk-from-the-store" not in json.dumps(listed)
        refused = host.put("/system/env", json={"variables": {"OPENCODE_SERVER_PASSWORD": "x"}})
        assert refused.status_code == 400 and "server's own" in refused.json()["error"]["message"]
        assert json.loads(store.read_text()) == {"MY_API_KEY": "sk-from-the-store-1"}  # untouched
        changed = host.put("/system/env", json={"variables": {"OTHER_KEY": "v2"}, "restart": True})
        assert changed.status_code == 200 and changed.json()["data"]["restart"] == "restarting"

        def restarted() -> int | None:
            status = host.get("/system/opencode/health").json()["data"]
            return status["pid"] if status["healthy"] and status["pid"] != first else None

        second = wait_for(restarted, timeout=60, what="opencode restarted")
        with server.client() as client:  # the client token is not the host: no reading of the store
            assert client.get("/system/env").status_code == 403
    env = environ(second)
    assert env["OTHER_KEY"] == "v2" and "MY_API_KEY" not in env
    assert store.stat().st_mode & 0o777 == 0o600
